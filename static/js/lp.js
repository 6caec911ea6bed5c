// A liquidity provider's own view: balances, distributions, auto-forwarding.
const API = '/satmachineadmin/api/v1'
const t = (key, values) => window.SatMachine.t(key, values)
// models._LN_ADDRESS, applied after trimming and lower-casing as the API does.
const LN_ADDRESS = /^[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}$/
const RESERVE_MAX_BPS = 1000

// Chart.js keeps its own state: outside Vue's reactivity.
let satsChart = null

window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  delimiters: ['${', '}'],
  data() {
    return {
      loaded: false,
      me: {lp_id: null, balances: [], totals: []},
      distributions: [],
      balanceSettlements: [],
      forwards: [],
      forwardingForm: {ln_address: '', fee_reserve_bps: 100},
      savingForwarding: false,
      // One payout schedule per enrolment: offered by the operator, chosen here.
      payoutPlans: [],
      payoutHours: Array.from({length: 24}, (_, hour) => ({
        label: `${String(hour).padStart(2, '0')}:00 UTC`,
        value: hour
      })),
      // The one-time code an operator needs to enrol this user (their consent).
      enrolCode: null,
      codeWallet: null,
      nowSeconds: Math.floor(Date.now() / 1000),
      codeTimer: null,
      profileForm: {display_name: ''},
      csvUrl: `${API}/lp/distributions.csv`,
      balanceColumns: [
        {
          name: 'operator',
          label: 'Operator',
          field: 'operator',
          align: 'left'
        },
        {name: 'fiat', label: 'Currency', field: 'fiat_code', align: 'left'},
        {
          name: 'wallet',
          label: 'Paid into',
          field: row => this.walletName(row.wallet_id),
          align: 'left'
        },
        ...[
          ['deposited', 'Deposited', 'deposited'],
          ['pending', 'Pending deposits', 'pending_deposits'],
          ['distributed', 'Distributed', 'distributed'],
          ['held', 'Held (being paid)', 'held'],
          ['voided', 'Voided', 'voided'],
          ['balance', 'Balance', 'balance']
        ].map(([name, label, field]) => ({
          name,
          label,
          field,
          // Grouped in the currency's decimals (its code is the next column but one).
          format: (value, row) => this.grouped(value, row.fiat_code)
        })),
        {
          name: 'sats',
          label: 'Sats received',
          field: 'distributed_sats',
          format: value => this.sats(value)
        }
      ],
      distributionColumns: [
        {
          name: 'when',
          label: 'When',
          field: 'created_at',
          format: value => this.when(value),
          align: 'left',
          sortable: true
        },
        {
          name: 'operator',
          label: 'Operator',
          field: 'operator',
          align: 'left'
        },
        {
          name: 'fiat',
          label: 'Fiat',
          field: row => this.fiat(row.fiat_amount, row.fiat_code)
        },
        {
          name: 'sats',
          label: 'Sats',
          field: 'sats',
          format: value => this.sats(value),
          sortable: true
        },
        {
          name: 'rate',
          label: 'Machine rate (fiat/BTC)',
          field: row => this.rate(row.exchange_rate)
        },
        {
          name: 'cost_basis',
          label: 'Cost basis (fiat/BTC)',
          field: row => (row.cost_basis ? this.rate(row.cost_basis) : '–')
        },
        {
          name: 'per_unit',
          label: 'Sats per fiat unit',
          field: row => row.sats_per_fiat_unit ?? '–'
        },
        {name: 'status', label: 'Status', field: row => window.SatMachine.statusWord(row.status)}
      ],
      balanceSettlementColumns: [
        {
          name: 'when',
          label: 'When',
          field: 'created_at',
          format: value => this.when(value),
          align: 'left',
          sortable: true
        },
        {
          name: 'operator',
          label: 'Operator',
          field: 'operator',
          align: 'left'
        },
        {
          name: 'fiat',
          label: 'Fiat',
          field: row => this.fiat(row.fiat_amount, row.fiat_code)
        },
        {
          name: 'sats',
          label: 'Sats',
          field: 'sats',
          format: value => this.sats(value)
        },
        {
          name: 'rate',
          label: 'Rate (fiat/BTC)',
          field: row => this.rate(row.exchange_rate)
        },
        {name: 'state', label: 'State', field: row => window.SatMachine.statusWord(row.state)}
      ],
      forwardColumns: [
        {
          name: 'when',
          label: 'When',
          field: 'created_at',
          format: value => this.when(value),
          align: 'left'
        },
        {name: 'address', label: 'To', field: 'ln_address', align: 'left'},
        {
          name: 'sats',
          label: 'Sats',
          field: 'sats',
          format: value => this.sats(value)
        },
        {name: 'status', label: 'Status', field: row => window.SatMachine.statusWord(row.status)},
        {name: 'attempts', label: 'Attempts', field: 'attempts'},
        {
          name: 'error',
          label: 'Last error',
          field: row => row.last_error || '',
          align: 'left'
        }
      ]
    }
  },
  watch: {
    // The chart shows what the distributions table shows, drawn as soon as they
    // arrive (after the page has rendered them, so that its canvas is there),
    // whatever else the page is still loading.
    distributions: {
      flush: 'post',
      handler() {
        this.drawChart()
      }
    }
  },
  computed: {
    walletOptions() {
      return (this.g.user ? this.g.user.wallets : []).map(wallet => ({
        label: wallet.name,
        value: wallet.id
      }))
    },
    codeLeft() {
      const code = this.enrolCode
      if (!code || code.used_at) return ''
      const left = Math.max(0, code.expires_at - this.nowSeconds)
      const minutes = Math.floor(left / 60)
      return `${minutes}:${String(left % 60).padStart(2, '0')}`
    },
    reserveHint() {
      const bps = this.forwardingForm.fee_reserve_bps
      return Number.isInteger(bps)
        ? t('lp_reserve_hint', {percent: (bps / 100).toFixed(2)})
        : ''
    }
  },
  methods: {
    fit(columns) {
      return window.SatMachine.visibleColumns(columns, this.$q.screen.width)
    },
    fiat: (amount, code) => window.SatMachine.format.fiat(amount, code),
    grouped: (amount, code) =>
      window.SatMachine.groupDecimal(amount, window.SatMachine.fiatDigits(code)),
    rate: value => window.SatMachine.format.rate(value),
    sats(value) {
      return value === undefined || value === null
        ? ''
        : LNbits.utils.formatSat(value)
    },
    when(seconds) {
      return window.SatMachine.format.when(seconds)
    },
    walletName(walletId) {
      const wallet = (this.g.user ? this.g.user.wallets : []).find(
        wallet => wallet.id === walletId
      )
      return wallet ? wallet.name : walletId
    },
    copy(text) {
      LNbits.utils.copyText(text)
    },
    addressRule(value) {
      const address = (value || '').trim().toLowerCase()
      return (
        !address ||
        LN_ADDRESS.test(address) ||
        t('rule_ln_address')
      )
    },
    reserveRule(value) {
      return (
        (Number.isInteger(value) && value >= 0 && value <= RESERVE_MAX_BPS) ||
        t('rule_reserve_bps')
      )
    },
    invalid() {
      Quasar.Notify.create({
        type: 'warning',
        message: t('not_saved_fix_fields')
      })
    },
    cumulative() {
      const paid = this.distributions
        .filter(row => row.status === 'paid')
        .sort((a, b) => a.created_at - b.created_at)
      let total = 0
      return paid.map(row => {
        total += row.sats
        return {x: this.when(row.created_at), y: total}
      })
    },
    drawChart() {
      const canvas = this.$refs.chart
      if (!canvas) return
      const points = this.cumulative()
      satsChart = window.SatMachine.drawChart(satsChart, canvas, {
        type: 'line',
        data: {
          labels: points.map(point => point.x),
          datasets: [
            {
              label: t('ui_sats_received'),
              data: points.map(point => point.y),
              stepped: true,
              borderColor: Quasar.getCssVar('primary'),
              backgroundColor: Quasar.getCssVar('primary'),
              fill: false
            }
          ]
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: {legend: {display: false}},
          scales: {y: {beginAtZero: true, title: {display: true, text: 'sats'}}}
        }
      })
    },
    async loadShown() {
      // What the LP reads, not the forms they may be editing.
      const [me, distributions, settlements, forwards] = await Promise.all([
        LNbits.api.request('GET', `${API}/lp/me`),
        LNbits.api.request('GET', `${API}/lp/distributions`),
        LNbits.api.request('GET', `${API}/lp/balance-settlements`),
        LNbits.api.request('GET', `${API}/lp/forwards`)
      ])
      this.me = me.data
      this.distributions = distributions.data
      this.balanceSettlements = settlements.data
      this.forwards = forwards.data
    },
    async onNotice() {
      // A notice says only that something changed: fetch it, once, however many
      // notices arrive while a refresh is under way.
      if (this.refreshing) {
        this.noticedAgain = true
        return
      }
      this.refreshing = true
      try {
        do {
          this.noticedAgain = false
          await this.loadShown()
        } while (this.noticedAgain)
      } catch (error) {
        console.warn('satmachineadmin: refresh failed', error)
      } finally {
        this.refreshing = false
      }
    },
    async load() {
      try {
        const [, profile] = await Promise.all([
          this.loadShown(),
          LNbits.api.request('GET', `${API}/lp/profile`)
        ])
        this.profileForm = {display_name: profile.data.display_name || ''}
        await this.loadPayoutPlans()
        // Only an LP has forwarding settings (anyone else gets a 404).
        if (this.me.lp_id) {
          const {data} = await LNbits.api.request(
            'GET',
            `${API}/lp/forwarding`
          )
          this.forwardingForm = {
            ln_address: data.ln_address || '',
            fee_reserve_bps: data.fee_reserve_bps
          }
        }
      } catch (error) {
        window.SatMachine.notify.error(error)
      } finally {
        this.loaded = true
      }
    },
    async makeCode() {
      try {
        const {data} = await LNbits.api.request(
          'POST',
          `${API}/lp/code`,
          undefined,
          this.codeWallet ? {wallet_id: this.codeWallet} : {}
        )
        this.enrolCode = data
        clearInterval(this.codeTimer)
        this.codeTimer = setInterval(() => {
          this.nowSeconds = Math.floor(Date.now() / 1000)
        }, 1000)
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    async saveProfile() {
      try {
        const {data} = await LNbits.api.request(
          'PUT',
          `${API}/lp/profile`,
          undefined,
          {display_name: this.profileForm.display_name || null}
        )
        this.profileForm = {display_name: data.display_name || ''}
        Quasar.Notify.create({
          type: 'positive',
          message: data.display_name
            ? t('lp_seen_as', {name: data.display_name})
            : t('lp_seen_as_username')
        })
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    async loadPayoutPlans() {
      const {data} = await LNbits.api.request('GET', `${API}/lp/payout-plans`)
      this.payoutPlans = data.map(plan => ({...plan, form: {...plan}}))
    },
    scheduleLabel(name) {
      return window.SatMachine.word('schedule', name)
    },
    scheduledText(plan) {
      if (plan.schedule === 'daily' && plan.next_payout_at) {
        return t('lp_next_payout', {
          when: this.when(plan.next_payout_at),
          hour: `${String(plan.hour).padStart(2, '0')}:00 UTC`
        })
      }
      if (plan.schedule === 'threshold') {
        return t('lp_paid_once', {sats: this.sats(plan.threshold_sats)})
      }
      return t('lp_paid_each')
    },
    async savePayoutPlan(plan) {
      const form = plan.form
      const body = {enrolment_id: plan.enrolment_id, schedule: form.schedule}
      if (form.schedule === 'daily') body.hour = form.hour
      if (form.schedule === 'threshold') body.threshold_sats = form.threshold_sats
      try {
        await LNbits.api.request(
          'PUT',
          `${API}/lp/payout-plans`,
          undefined,
          body
        )
        await this.loadPayoutPlans()
        Quasar.Notify.create({type: 'positive', message: t('done_payout_schedule_saved')})
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    async saveForwarding() {
      const address = (this.forwardingForm.ln_address || '').trim().toLowerCase()
      this.savingForwarding = true
      try {
        const {data} = await LNbits.api.request(
          'PUT',
          `${API}/lp/forwarding`,
          undefined,
          {
            ln_address: address || null,
            fee_reserve_bps: this.forwardingForm.fee_reserve_bps
          }
        )
        this.forwardingForm = {
          ln_address: data.ln_address || '',
          fee_reserve_bps: data.fee_reserve_bps
        }
        Quasar.Notify.create({
          type: 'positive',
          message: data.ln_address
            ? t('lp_forwarded_to', {address: data.ln_address})
            : t('lp_forward_off')
        })
      } catch (error) {
        window.SatMachine.notify.error(error)
      } finally {
        this.savingForwarding = false
      }
    }
  },
  created() {
    window.SatMachine.translateTables(this.$q)
    // What a phone leaves out (SatMachine.visibleColumns) is in the CSV export.
    const {prioritise} = window.SatMachine
    prioritise(this.balanceColumns, {
      fiat: 3, wallet: 3, deposited: 3, pending: 4, distributed: 3, held: 4,
      voided: 4, sats: 2
    })
    prioritise(this.distributionColumns, {
      operator: 2, rate: 3, cost_basis: 3, per_unit: 3, status: 2
    })
    prioritise(this.balanceSettlementColumns, {when: 2, operator: 3, rate: 4})
    prioritise(this.forwardColumns, {address: 2, attempts: 4, error: 3})
    for (const columns of [
      this.balanceColumns,
      this.distributionColumns,
      this.balanceSettlementColumns,
      this.forwardColumns
    ]) {
      window.SatMachine.translateColumns(columns)
    }
    this.load()
    this.notices = window.SatMachine.listen(this.onNotice)
  },
  unmounted() {
    if (this.notices) this.notices.close()
    clearInterval(this.codeTimer)
    if (satsChart) {
      satsChart.destroy()
      satsChart = null
    }
  }
})
