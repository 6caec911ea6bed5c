// The super user's platform settings. Each form checks the bounds of
// models.SuperConfigUpdate before it sends; the API's refusals are shown as they come.
const API = '/satmachineadmin/api/v1'
const t = (key, values) => window.SatMachine.t(key, values)
const BPS_MAX = 10000
const MAX_RELAYS = 20
// The relay table's refresh (ms): often while no notices come over the websocket.
const STATUS_POLL_MS = 5000
const STATUS_PUSHED_POLL_MS = 60000
// models._RELAY_URL
const RELAY_URL = /^wss?:\/\/[^\s/$.?#][^\s]*$/i
// Saved with the platform fee (static/components/fee-policy.js).
const FEE_POLICY = [
  'cash_out_max_commission_bps',
  'cash_in_max_commission_bps',
  'fee_enforcement',
  'fee_grace_s'
]
const RPC_FIELDS = [
  {
    key: 'clock_tolerance_s',
    labelKey: 'rpc_clock_tolerance_s',
    unit: 's',
    min: 10,
    max: 3600,
    hintKey: 'rpc_clock_tolerance_s_hint'
  },
  {
    key: 'amount_tolerance_bps',
    labelKey: 'rpc_amount_tolerance_bps',
    unit: 'bps',
    min: 0,
    max: 2000,
    hintKey: 'rpc_amount_tolerance_bps_hint'
  },
  {
    key: 'lp_rate_tolerance_bps',
    labelKey: 'rpc_lp_rate_tolerance_bps',
    unit: 'bps',
    min: 0,
    max: 2000,
    hintKey: 'rpc_lp_rate_tolerance_bps_hint'
  },
  {
    key: 'beacon_offline_s',
    labelKey: 'rpc_beacon_offline_s',
    unit: 's',
    min: 30,
    max: 86400,
    hintKey: 'rpc_beacon_offline_s_hint'
  },
  {
    key: 'dispense_timeout_s',
    labelKey: 'rpc_dispense_timeout_s',
    unit: 's',
    min: 60,
    max: 7 * 86400,
    hintKey: 'rpc_dispense_timeout_s_hint'
  },
  {
    key: 'telemetry_retention_days',
    labelKey: 'rpc_telemetry_retention_days',
    unit: 'days',
    min: 1,
    max: 3650,
    hintKey: 'rpc_telemetry_retention_days_hint'
  },
  {
    key: 'rpc_log_retention_days',
    labelKey: 'rpc_rpc_log_retention_days',
    unit: 'days',
    min: 1,
    max: 3650,
    hintKey: 'rpc_rpc_log_retention_days_hint'
  }
]

window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  delimiters: ['${', '}'],
  data() {
    return {
      config: {},
      feeForm: {
        cash_in_fee_bps: 0,
        cash_out_fee_bps: 0,
        cash_in_fee_basis: 'commission',
        cash_out_fee_basis: 'commission',
        super_wallet_id: null
      },
      relayForm: {relays: [], local_only: false},
      rpcForm: {},
      relayStatus: {relays: [], dropped: {}},
      overview: [],
      saving: {fees: false, rpc: false, relays: false, rotate: false},
      statusTimer: null,
      maxRelays: MAX_RELAYS,
      rpcFields: RPC_FIELDS,
      relayColumns: [
        {name: 'url', label: 'Relay', field: 'url', align: 'left'},
        {name: 'connected', label: 'State', field: 'connected', align: 'left'},
        {name: 'in', label: 'Events in', field: 'events_in'},
        {name: 'out', label: 'Events out', field: 'events_out'},
        {name: 'reconnects', label: 'Reconnects', field: 'reconnects'},
        {name: 'oversized', label: 'Oversized', field: 'oversized'},
        {
          name: 'error',
          label: 'Last error',
          field: row => row.last_error || '',
          align: 'left'
        }
      ],
      overviewColumns: [
        {
          name: 'operator',
          label: 'Operator',
          field: row => row.operator || t('an_operator'),
          align: 'left'
        },
        {name: 'machines', label: 'Machines', field: 'machines', sortable: true},
        {
          name: 'settlements',
          label: 'Settlements',
          field: 'settlements',
          sortable: true
        },
        {
          name: 'gross',
          label: 'Volume (sats)',
          field: 'gross_sats',
          format: value => this.sats(value),
          sortable: true
        },
        {
          name: 'commission',
          label: 'Commission (sats)',
          field: 'commission_sats',
          format: value => this.sats(value),
          sortable: true
        },
        {
          name: 'platform',
          label: 'Platform fees (sats)',
          field: 'platform_fee_sats',
          format: value => this.sats(value),
          sortable: true
        },
        {
          name: 'operator_fee',
          label: 'Operator fees (sats)',
          field: 'operator_fee_sats',
          format: value => this.sats(value),
          sortable: true
        }
      ]
    }
  },
  computed: {
    directions() {
      return ['cash_out', 'cash_in'].map(key => ({key, label: t(`fs_${key}`)}))
    },
    basisOptions() {
      return ['commission', 'principal'].map(value => ({
        label: t(`basis_option_${value}`),
        value
      }))
    },
    setupSteps() {
      return [
        {
          key: 'relays',
          label: t('setup_relays'),
          done: Boolean(this.config.relays && this.config.relays.length)
        },
        {
          key: 'wallet',
          label: t('setup_wallet'),
          done: Boolean(this.config.super_wallet_id)
        }
      ]
    },
    setupComplete() {
      return this.setupSteps.every(step => step.done)
    },
    walletOptions() {
      const options = [{label: t('no_fee_wallet'), value: null}]
      const own = this.g.user ? this.g.user.wallets : []
      for (const wallet of own) {
        options.push({label: wallet.name, value: wallet.id})
      }
      const current = this.config.super_wallet_id
      if (current && !own.some(wallet => wallet.id === current)) {
        options.push({label: t('wallet_not_yours', {id: current}), value: current})
      }
      return options
    },
    walletLabel() {
      const option = this.walletOptions.find(
        option => option.value === this.feeForm.super_wallet_id
      )
      return option ? option.label : ''
    },
    totalPlatformFees() {
      return this.overview.reduce((sum, row) => sum + row.platform_fee_sats, 0)
    },
    dropped() {
      const entries = Object.entries(this.relayStatus.dropped || {})
      if (!entries.length) return t('dropped_none')
      return entries
        .map(([why, count]) => `${window.SatMachine.word('dropped', why)}: ${count}`)
        .join(', ')
    }
  },
  methods: {
    fit(columns) {
      return window.SatMachine.visibleColumns(columns, this.$q.screen.width)
    },
    sats(value) {
      return value === undefined || value === null
        ? ''
        : LNbits.utils.formatSat(value)
    },
    when(seconds) {
      return seconds ? window.SatMachine.format.when(seconds) : t('ago_never')
    },
    feeHint(bps, basis) {
      if (!Number.isInteger(bps)) return ''
      return `= ${t('fee_of_basis', {percent: `${(bps / 100).toFixed(2)} %`, basis: t(`basis_${basis}`)})}`
    },
    bpsRule(value) {
      return (
        (Number.isInteger(value) && value >= 0 && value <= BPS_MAX) ||
        t('rule_bps')
      )
    },
    rangeRule(field) {
      return value =>
        (Number.isInteger(value) && value >= field.min && value <= field.max) ||
        t('rule_range', {min: field.min, max: field.max})
    },
    relayRule(value) {
      return (
        RELAY_URL.test((value || '').trim()) ||
        t('rule_relay_url')
      )
    },
    invalid() {
      Quasar.Notify.create({
        type: 'warning',
        message: t('not_saved_fix_fields')
      })
    },
    copy(text) {
      LNbits.utils.copyText(text)
    },
    apply(config) {
      this.config = config
      this.feeForm = {
        cash_in_fee_bps: config.cash_in_fee_bps,
        cash_out_fee_bps: config.cash_out_fee_bps,
        cash_in_fee_basis: config.cash_in_fee_basis,
        cash_out_fee_basis: config.cash_out_fee_basis,
        super_wallet_id: config.super_wallet_id,
        ...Object.fromEntries(FEE_POLICY.map(key => [key, config[key]]))
      }
      this.relayForm = {relays: [...config.relays], local_only: config.local_only}
      this.rpcForm = Object.fromEntries(
        RPC_FIELDS.map(field => [field.key, config[field.key]])
      )
    },
    async update(what, body, message) {
      this.saving[what] = true
      try {
        const {data} = await LNbits.api.request(
          'PUT',
          `${API}/super/config`,
          undefined,
          body
        )
        this.apply(data)
        Quasar.Notify.create({type: 'positive', message})
        return true
      } catch (error) {
        window.SatMachine.notify.error(error)
        return false
      } finally {
        this.saving[what] = false
      }
    },
    saveFees() {
      return this.update('fees', {...this.feeForm}, t('done_platform_fee_saved'))
    },
    saveRpc() {
      return this.update('rpc', {...this.rpcForm}, t('done_tolerances_saved'))
    },
    async saveRelays() {
      const relays = this.relayForm.relays.map(relay => relay.trim())
      if (relays.length > MAX_RELAYS) {
        Quasar.Notify.create({
          type: 'warning',
          message: t('at_most_relays', {n: MAX_RELAYS})
        })
        return
      }
      const body = {relays, local_only: this.relayForm.local_only}
      if (await this.update('relays', body, t('done_relays_saved'))) {
        // The server follows its relay list within a second.
        setTimeout(this.loadRelayStatus, 1500)
      }
    },
    rotateKey() {
      window.SatMachine
        .confirmDialog(
          t('confirm_rotate_key')
        )
        .onOk(async () => {
          this.saving.rotate = true
          try {
            const {data} = await LNbits.api.request(
              'POST',
              `${API}/super/rotate-key`
            )
            this.config = {...this.config, ...data}
            Quasar.Notify.create({
              type: 'positive',
              message: t('done_new_server_key')
            })
          } catch (error) {
            window.SatMachine.notify.error(error)
          } finally {
            this.saving.rotate = false
          }
        })
    },
    async loadConfig() {
      try {
        const {data} = await LNbits.api.request('GET', `${API}/super/config`)
        this.apply(data)
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    async loadRelayStatus() {
      try {
        const {data} = await LNbits.api.request('GET', `${API}/super/relays`)
        this.relayStatus = data
      } catch (error) {
        this.stopPolling()
        window.SatMachine.notify.error(error)
      }
    },
    async loadOverview() {
      try {
        const {data} = await LNbits.api.request('GET', `${API}/super/overview`)
        this.overview = data
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    stopPolling() {
      if (this.statusTimer) {
        clearInterval(this.statusTimer)
        this.statusTimer = null
      }
    }
  },
  created() {
    window.SatMachine.translateTables(this.$q)
    const {prioritise} = window.SatMachine
    // The relay table shares its row with another card: fewer columns fit.
    prioritise(this.relayColumns, {in: 4, out: 4, reconnects: 4, oversized: 4, error: 3})
    prioritise(this.overviewColumns, {
      machines: 2, settlements: 2, gross: 3, commission: 3, platform: 2,
      operator_fee: 4
    })
    window.SatMachine.translateColumns(this.relayColumns)
    window.SatMachine.translateColumns(this.overviewColumns)
    this.loadConfig()
    this.loadRelayStatus()
    this.loadOverview()
    this.statusTimer = setInterval(this.loadRelayStatus, STATUS_POLL_MS)
    // Relays going up or down are told over the websocket; the poll slows down
    // while notices arrive and speeds up again when they stop.
    this.notices = window.SatMachine.listen(this.loadRelayStatus, open => {
      if (!this.statusTimer) return // stopped after an error
      clearInterval(this.statusTimer)
      const every = open ? STATUS_PUSHED_POLL_MS : STATUS_POLL_MS
      this.statusTimer = setInterval(this.loadRelayStatus, every)
      if (open) this.loadRelayStatus()
    })
  },
  unmounted() {
    if (this.notices) this.notices.close()
    this.stopPolling()
  }
})
