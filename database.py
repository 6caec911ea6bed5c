from lnbits.db import Database

db = Database("ext_satmachineadmin")
