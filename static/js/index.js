const API = '/satmachineadmin/api/v1'

window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  delimiters: ['${', '}'],
  data() {
    return {
      fee: {},
      machines: [],
      rules: [],
      settlements: [],
      machineColumns: [
        {name: 'name', label: 'Name', field: 'name', align: 'left'},
        {name: 'npub', label: 'npub', field: 'npub', align: 'left'},
        {name: 'fiat', label: 'Fiat', field: 'fiat_code'},
        {name: 'status', label: 'Status', field: 'status'},
        {name: 'wallet', label: 'Wallet', field: 'wallet_id', align: 'left'}
      ],
      settlementColumns: [
        {
          name: 'created',
          label: 'When',
          field: row => new Date(row.created_at * 1000).toLocaleString(),
          align: 'left'
        },
        {name: 'direction', label: 'Direction', field: 'direction'},
        {name: 'gross', label: 'Gross sats', field: 'gross_sats'},
        {name: 'commission', label: 'Commission', field: 'commission_sats'},
        {name: 'platform', label: 'Platform fee', field: 'platform_fee_sats'},
        {name: 'fiat', label: 'Fiat', field: row => `${row.fiat_amount} ${row.fiat_code}`},
        {name: 'status', label: 'Status', field: 'status'}
      ]
    }
  },
  methods: {
    percent(bps) {
      return bps === undefined ? '' : `${(bps / 100).toFixed(2)} %`
    },
    async load() {
      try {
        const [fee, machines, splits, settlements] = await Promise.all([
          LNbits.api.request('GET', `${API}/platform-fee`),
          LNbits.api.request('GET', `${API}/machines`),
          LNbits.api.request('GET', `${API}/splits`),
          LNbits.api.request('GET', `${API}/settlements?limit=20`)
        ])
        this.fee = fee.data
        this.machines = machines.data
        this.rules = splits.data.rules
        this.settlements = settlements.data.data
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    }
  },
  created() {
    this.load()
  }
})
