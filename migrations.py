async def m001_initial(db):
    pass
