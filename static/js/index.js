// The operator dashboard. Every number comes from the extension's API; the page
// only checks input early so that the API's refusals are the exception.
const API = '/satmachineadmin/api/v1'
const POLL_MS = 5000
const SLOW_POLL_EVERY = 3 // polls: the overview and LPs every 15 s
const FIAT_CODE = /^[A-Za-z]{3}$/
const DECIMAL = /^\d+(\.\d+)?$/

const sats = value =>
  value === null || value === undefined
    ? ''
    : `${LNbits.utils.formatSat(value)} sat`
const when = seconds => (seconds ? new Date(seconds * 1000).toLocaleString() : '')
const dateParam = value => (value ? value : undefined)
// The Idempotency-Key of a balance settlement (crypto.randomUUID needs HTTPS).
const newKey = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(16)), byte =>
    byte.toString(16).padStart(2, '0')
  ).join('')

function query(params) {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') {
      search.set(key, value)
    }
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

function cashLevel(level) {
  if (level === undefined || level === null) return ''
  if (typeof level === 'object') {
    return Object.entries(level)
      .map(([key, value]) => `${key}: ${value}`)
      .join(', ')
  }
  return String(level)
}

function availability(machine) {
  const beacon = machine.beacon || {}
  const parts = []
  if (beacon.cash_out !== undefined) parts.push(`out ${beacon.cash_out ? '✓' : '✗'}`)
  if (beacon.cash_in !== undefined) parts.push(`in ${beacon.cash_in ? '✓' : '✗'}`)
  return parts.join(' · ')
}

let ruleKey = 0
function ruleDraft(rule) {
  return {
    key: ++ruleKey,
    label: rule.label || '',
    targetKind: rule.ln_address ? 'address' : 'wallet',
    wallet_id: rule.wallet_id || null,
    ln_address: rule.ln_address || '',
    percent: rule.weight_bps === undefined ? 0 : rule.weight_bps / 100
  }
}

window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  delimiters: ['${', '}'],
  data() {
    return {
      tab: 'overview',
      fee: {},
      health: {},
      machines: [],
      expectedMachines: [],
      rules: [],
      ruleDrafts: [],
      preview: null,
      previewError: '',
      previewCommission: 100,
      previewDirection: 'cash_out',
      settlements: [],
      settlementsLoading: false,
      settlementPagination: {
        page: 1,
        rowsPerPage: 25,
        rowsNumber: 0,
        sortBy: null,
        descending: true
      },
      filters: {
        machine_id: null,
        direction: null,
        status: null,
        since: '',
        until: ''
      },
      totals: null,
      allTimeTotals: null,
      freshIds: {},
      knownIds: null,
      daily: [],
      chartMetric: 'gross_sats',
      chartDays: 30,
      worklist: [],
      abandoned: [],
      lps: [],
      deposits: [],
      balanceSettlements: [],
      failedBalanceSettlements: [],
      machineDialog: {show: false},
      pairDialog: {show: false},
      manualDialog: {show: false},
      detail: {show: false, settlement: null},
      resolveDialog: {show: false},
      enrolDialog: {show: false},
      depositDialog: {show: false},
      settleDialog: {show: false},
      nowSeconds: Math.floor(Date.now() / 1000),
      directionOptions: [
        {label: 'Cash-out (customer sells BTC)', value: 'cash_out'},
        {label: 'Cash-in (customer buys BTC)', value: 'cash_in'}
      ],
      statusOptions: ['processing', 'settled', 'failed'],
      machineOverviewColumns: [
        {name: 'name', label: 'Machine', field: 'name', align: 'left'},
        {name: 'online', label: 'Status', field: 'online', align: 'left'},
        {name: 'available', label: 'Cash out / in', field: availability},
        {
          name: 'cash',
          label: 'Cash level',
          field: row => cashLevel((row.beacon || {}).cash_level)
        },
        {name: 'seen', label: 'Last seen', field: row => when(row.last_seen)},
        {name: 'balance', label: 'Wallet balance', field: row => sats(row.balance_sats)}
      ],
      machineColumns: [
        {name: 'actions', label: '', field: 'id', align: 'left'},
        {name: 'name', label: 'Name', field: 'name', align: 'left', sortable: true},
        {name: 'location', label: 'Location', field: 'location', align: 'left'},
        {
          name: 'fiat',
          label: 'Fiat',
          field: row => row.fiat_code || (row.beacon || {}).fiat || ''
        },
        {name: 'online', label: 'Status', field: 'online', align: 'left'},
        {name: 'available', label: 'Cash out / in', field: availability},
        {
          name: 'cash',
          label: 'Cash level',
          field: row => cashLevel((row.beacon || {}).cash_level)
        },
        {name: 'model', label: 'Model', field: row => (row.beacon || {}).model || ''},
        {name: 'seen', label: 'Last seen', field: row => when(row.last_seen)},
        {name: 'balance', label: 'Balance', field: row => sats(row.balance_sats)},
        {name: 'npub', label: 'npub', field: 'npub', align: 'left'}
      ],
      settlementColumns: [
        {name: 'created', label: 'When', field: row => when(row.created_at), align: 'left'},
        {name: 'machine', label: 'Machine', field: row => this.machineName(row.machine_id), align: 'left'},
        {name: 'tx', label: 'Transaction', field: 'tx_id', align: 'left'},
        {name: 'direction', label: 'Direction', field: row => row.direction.replace('_', '-')},
        {name: 'fiat', label: 'Fiat', field: row => `${row.fiat_amount} ${row.fiat_code}`},
        {name: 'gross', label: 'Volume', field: row => sats(row.gross_sats)},
        {name: 'commission', label: 'Commission', field: row => sats(row.commission_sats)},
        {name: 'platform', label: 'Platform fee', field: row => sats(row.platform_fee_sats)},
        {name: 'operator', label: 'Operator fee', field: row => sats(row.operator_fee_sats)},
        {name: 'lp', label: 'To LPs', field: row => sats(row.lp_allocated_sats)},
        {name: 'status', label: 'Status', field: 'status'}
      ],
      legColumns: [
        {name: 'kind', label: 'Kind', field: row => row.kind.replace(/_/g, ' '), align: 'left'},
        {name: 'label', label: 'Label', field: 'label', align: 'left'},
        {
          name: 'target',
          label: 'To',
          field: row => this.legTarget(row),
          align: 'left'
        },
        {name: 'sats', label: 'Sats', field: row => sats(row.sats)},
        {name: 'fiat', label: 'Fiat', field: row => row.fiat_amount || ''},
        {name: 'status', label: 'Status', field: 'status'},
        {name: 'attempts', label: 'Attempts', field: 'attempts'},
        {name: 'hash', label: 'Payment hash', field: row => (row.payment_hash || '').slice(0, 12)},
        {name: 'paid', label: 'Paid', field: row => when(row.paid_at)},
        {name: 'error', label: 'Last error', field: row => row.last_error || '', align: 'left'}
      ],
      abandonedColumns: [
        {name: 'created', label: 'When', field: row => when(row.created_at), align: 'left'},
        {name: 'machine', label: 'Machine', field: row => this.machineName(row.machine_id), align: 'left'},
        {name: 'tx', label: 'Transaction', field: 'tx_id', align: 'left'},
        {name: 'direction', label: 'Direction', field: 'direction'},
        {name: 'fiat', label: 'Fiat', field: row => `${row.fiat_amount} ${row.fiat_code}`},
        {name: 'sats', label: 'Sats', field: row => sats(row.amount_sats)},
        {name: 'status', label: 'Status', field: 'status'},
        {name: 'note', label: 'Why', field: row => row.note || '', align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ],
      worklistColumns: [
        {name: 'created', label: 'When', field: row => when(row.created_at), align: 'left'},
        {name: 'tx', label: 'Transaction', field: 'tx_id', align: 'left'},
        {name: 'gross', label: 'Volume', field: row => sats(row.gross_sats)},
        {name: 'actions', label: '', field: 'id'}
      ],
      lpColumns: [
        {name: 'name', label: 'LP', field: 'name', align: 'left'},
        {name: 'fiat', label: 'Currency', field: 'fiat_code'},
        {name: 'deposited', label: 'Deposited', field: 'deposited'},
        {name: 'pending', label: 'Unconfirmed', field: 'pending_deposits'},
        {name: 'distributed', label: 'Distributed', field: 'distributed'},
        {name: 'held', label: 'Held (being paid)', field: 'held'},
        {name: 'voided', label: 'Voided', field: 'voided'},
        {name: 'balance', label: 'Balance', field: 'balance'},
        {name: 'sats', label: 'Sats sent', field: row => sats(row.distributed_sats)},
        {name: 'actions', label: '', field: 'id'}
      ],
      depositColumns: [
        {name: 'created', label: 'When', field: row => when(row.created_at), align: 'left'},
        {name: 'lp', label: 'LP', field: row => this.lpName(row.enrolment_id), align: 'left'},
        {name: 'amount', label: 'Amount', field: row => `${row.fiat_amount} ${row.fiat_code}`},
        {name: 'status', label: 'Status', field: 'status'},
        {name: 'note', label: 'Note', field: row => row.note || '', align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ],
      balanceSettlementColumns: [
        {name: 'created', label: 'When', field: row => when(row.created_at), align: 'left'},
        {name: 'amount', label: 'Amount', field: row => `${row.fiat_amount} ${row.fiat_code}`},
        {name: 'rate', label: 'Rate', field: row => `${row.exchange_rate} (${row.rate_source})`},
        {name: 'sats', label: 'Sats', field: row => sats(row.sats)},
        {name: 'status', label: 'Status', field: 'status'},
        {name: 'error', label: 'Error', field: row => row.last_error || '', align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ]
    }
  },
  computed: {
    walletOptions() {
      return (this.g.user ? this.g.user.wallets : []).map(wallet => ({
        label: wallet.name,
        value: wallet.id
      }))
    },
    machineOptions() {
      return this.machines.map(machine => ({label: machine.name, value: machine.id}))
    },
    relayText() {
      if (this.health.relays_total === undefined) return ''
      return `${this.health.relays_connected}/${this.health.relays_total}`
    },
    rpcErrors() {
      return (this.health.last_24h || [])
        .filter(row => row.code !== 'ok')
        .reduce((sum, row) => sum + row.count, 0)
    },
    lastRequestAt() {
      const times = (this.health.last_24h || []).map(row => row.last_at)
      return times.length ? Math.max(...times) : null
    },
    attentionCount() {
      return (
        this.abandoned.length +
        this.worklist.length +
        this.failedBalanceSettlements.length
      )
    },
    weightsTotal() {
      return this.ruleDrafts.reduce((sum, rule) => sum + (Number(rule.percent) || 0), 0)
    },
    weightsOk() {
      return !this.ruleDrafts.length || Math.round(this.weightsTotal * 100) === 10000
    },
    rulesProblem() {
      for (const rule of this.ruleDrafts) {
        if (!rule.label) return 'Every rule needs a label.'
        if (rule.targetKind === 'wallet' && !rule.wallet_id) {
          return `Rule '${rule.label}' needs a wallet.`
        }
        if (rule.targetKind === 'address' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(rule.ln_address)) {
          return `Rule '${rule.label}' needs a Lightning address like name@domain.com.`
        }
        const bps = Math.round(Number(rule.percent) * 100)
        if (!(bps > 0) || bps > 10000 || Math.abs(bps - Number(rule.percent) * 100) > 1e-6) {
          return `Rule '${rule.label}': the weight must be above 0 and at most 100 %, in steps of 0.01 %.`
        }
      }
      if (!this.weightsOk) {
        return `The weights add up to ${this.weightsTotal.toFixed(2)} %, not 100 %.`
      }
      return ''
    },
    draftRulesBody() {
      return this.ruleDrafts.map(rule => ({
        label: rule.label,
        weight_bps: Math.round(Number(rule.percent) * 100),
        ...(rule.targetKind === 'wallet'
          ? {wallet_id: rule.wallet_id}
          : {ln_address: rule.ln_address})
      }))
    },
    previewOperatorLegs() {
      return this.preview
        ? this.preview.legs.filter(leg => leg.kind === 'operator_split')
        : []
    },
    filterQuery() {
      return {
        machine_id: this.filters.machine_id,
        direction: this.filters.direction,
        status: this.filters.status,
        since: dateParam(this.filters.since),
        until: dateParam(this.filters.until)
      }
    },
    csvUrl() {
      return `${API}/settlements.csv${query(this.filterQuery)}`
    },
    qrDataUrl() {
      const svg = this.pairDialog.pairing && this.pairDialog.pairing.qr_svg
      return svg ? `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}` : ''
    },
    countdownText() {
      const pairing = this.pairDialog.pairing
      if (!pairing) return ''
      const left = Math.max(0, pairing.expires_at - this.nowSeconds)
      if (!left) return 'expired'
      const minutes = Math.floor(left / 60)
      const seconds = String(left % 60).padStart(2, '0')
      return `${minutes}:${seconds}`
    },
    detailFacts() {
      const s = this.detail.settlement
      if (!s) return []
      return [
        {label: 'When', value: when(s.created_at)},
        {label: 'Machine', value: this.machineName(s.machine_id)},
        {label: 'Direction', value: s.direction},
        {label: 'Source', value: s.source},
        {label: 'Fiat', value: `${s.fiat_amount} ${s.fiat_code} at ${s.exchange_rate}`},
        {label: 'Volume', value: sats(s.gross_sats)},
        {label: 'Principal', value: sats(s.principal_sats)},
        {label: 'Commission', value: sats(s.commission_sats)},
        {label: 'Platform fee', value: `${sats(s.platform_fee_sats)} (${this.percent(s.fee_bps)} of ${s.fee_basis})`},
        {label: 'Operator fee', value: sats(s.operator_fee_sats)},
        {label: 'To LPs', value: sats(s.lp_allocated_sats)},
        {label: 'Payment hash', value: s.payment_hash || '—'},
        {label: 'Note', value: s.note || '—'}
      ]
    }
  },
  watch: {
    filters: {
      deep: true,
      handler() {
        this.settlementPagination.page = 1
        this.refreshSettlements()
      }
    },
    ruleDrafts: {
      deep: true,
      handler() {
        this.schedulePreview()
      }
    },
    previewCommission() {
      this.schedulePreview()
    },
    previewDirection() {
      this.schedulePreview()
    },
    chartMetric() {
      this.drawChart()
    },
    chartDays() {
      this.loadOverview()
    },
    tab(value) {
      if (value === 'overview') this.$nextTick(() => this.drawChart())
    }
  },
  methods: {
    sats,
    when,
    percent(bps) {
      return bps === undefined || bps === null ? '' : `${(bps / 100).toFixed(2)} %`
    },
    feeText(direction) {
      const bps = this.fee[`${direction}_fee_bps`]
      if (bps === undefined) return ''
      return `${this.percent(bps)} of the ${this.fee[`${direction}_fee_basis`]}`
    },
    short(npub) {
      return npub ? `${npub.slice(0, 10)}…${npub.slice(-4)}` : ''
    },
    ago(seconds) {
      if (!seconds) return 'never'
      const diff = Math.max(0, this.nowSeconds - seconds)
      if (diff < 60) return `${diff} s ago`
      if (diff < 3600) return `${Math.floor(diff / 60)} min ago`
      return when(seconds)
    },
    statusColor(status) {
      return {settled: 'green', processing: 'blue', failed: 'red'}[status] || 'grey'
    },
    lpName(enrolmentId) {
      const lp = this.lps.find(e => e.id === enrolmentId)
      return lp ? lp.name : 'a liquidity provider'
    },
    legTarget(leg) {
      // Another person's wallet (the platform's, an LP's) is shown by name only.
      if (leg.kind === 'platform_fee') return 'Platform fee'
      if (leg.target_name) return leg.target_name
      if (leg.lp_enrolment_id) return this.lpName(leg.lp_enrolment_id)
      return leg.ln_address || leg.label || ''
    },
    machineName(id) {
      const machine = this.machines.find(m => m.id === id)
      return machine ? machine.name : id
    },
    notifyDone(message) {
      Quasar.Notify.create({type: 'positive', message, timeout: 2000})
    },
    notifyProblem(message) {
      Quasar.Notify.create({type: 'warning', message})
    },
    totalRows(totals) {
      if (!totals) return []
      const fiat = totals.by_currency.map(row => `${row.fiat_amount} ${row.fiat_code}`)
      return [
        {label: 'Settlements', value: LNbits.utils.formatSat(totals.settlements)},
        {label: 'Fiat volume', value: fiat.join(' + ') || '—'},
        {label: 'Volume', value: sats(totals.gross_sats)},
        {label: 'Commission', value: sats(totals.commission_sats)},
        {label: 'Platform fee', value: sats(totals.platform_fee_sats)},
        {label: 'Operator fee', value: sats(totals.operator_fee_sats)},
        {label: 'LP distributions', value: sats(totals.lp_allocated_sats)}
      ]
    },

    // --- validation (the API checks again; these only answer sooner) -------------
    validNpub(value) {
      if (!value) return 'The machine npub is required'
      if (/^[0-9a-fA-F]{64}$/.test(value)) return true
      try {
        return NostrTools.nip19.decode(value).type === 'npub' || 'Not an npub'
      } catch (error) {
        return 'Not a valid npub'
      }
    },
    validFiatCode(value) {
      return !value || FIAT_CODE.test(value) || 'A three-letter currency code'
    },
    validSats(value) {
      return (
        (Number.isInteger(value) && value >= 0) || 'A whole number of sats, 0 or more'
      )
    },
    validDecimal(value) {
      return DECIMAL.test(value || '') || 'A plain number like 100 or 100.50'
    },
    validPositiveDecimal(value) {
      return (DECIMAL.test(value || '') && Number(value) > 0) || 'An amount above 0'
    },
    validRate(value) {
      return (
        (DECIMAL.test(value || '') && Number(value) > 0) ||
        'Fiat per BTC, above 0'
      )
    },

    // --- loading -------------------------------------------------------------------
    async call(method, path, data) {
      return (await LNbits.api.request(method, `${API}${path}`, null, data)).data
    },
    async loadMachines() {
      const [machines, pairings] = await Promise.all([
        this.call('GET', '/machines'),
        this.call('GET', '/pairings')
      ])
      this.machines = machines
      // Added by npub, not yet confirmed by the machine itself.
      this.expectedMachines = pairings.filter(
        p => p.expected_npub && p.status === 'waiting'
      )
    },
    async loadRules() {
      this.rules = (await this.call('GET', '/splits')).rules
      this.resetRules()
    },
    resetRules() {
      this.ruleDrafts = this.rules.map(ruleDraft)
    },
    async loadHealth() {
      this.health = await this.call('GET', '/rpc/health')
    },
    async loadAttention() {
      const [worklist, abandoned, failed, balanceSettlements] = await Promise.all([
        this.call('GET', '/worklist'),
        this.call('GET', '/abandoned'),
        this.call('GET', '/worklist/balance-settlements'),
        this.call('GET', '/balance-settlements')
      ])
      this.worklist = worklist
      this.abandoned = abandoned
      this.failedBalanceSettlements = failed
      this.balanceSettlements = balanceSettlements
    },
    async loadLps() {
      const [lps, deposits] = await Promise.all([
        this.call('GET', '/lps'),
        this.call('GET', '/deposits')
      ])
      this.lps = lps
      this.deposits = deposits
    },
    async loadOverview() {
      // Aggregates over all the operator's settlements: refreshed on the slow
      // cadence, not with every poll of the settlements table.
      const [daily, allTime] = await Promise.all([
        this.call('GET', `/stats/daily?days=${this.chartDays}`),
        this.call('GET', '/settlements/totals')
      ])
      this.daily = daily
      this.allTimeTotals = allTime
      this.drawChart()
    },
    onSettlementRequest(props) {
      this.settlementPagination = {...this.settlementPagination, ...props.pagination}
      this.refreshSettlements()
    },
    async refreshSettlements() {
      const {page, rowsPerPage} = this.settlementPagination
      const limit = rowsPerPage || 100
      this.settlementsLoading = true
      try {
        const answer = await this.call(
          'GET',
          `/settlements${query({...this.filterQuery, limit, offset: (page - 1) * limit})}`
        )
        this.markFresh(answer.data)
        this.settlements = answer.data
        this.settlementPagination.rowsNumber = answer.total
        this.totals = await this.call(
          'GET',
          `/settlements/totals${query(this.filterQuery)}`
        )
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      } finally {
        this.settlementsLoading = false
      }
    },
    markFresh(rows) {
      // Highlights settlements that arrived since the last poll, not at first load.
      if (this.knownIds) {
        for (const row of rows) {
          if (!this.knownIds.has(row.id)) this.freshIds[row.id] = true
        }
      }
      this.knownIds = new Set([...(this.knownIds || []), ...rows.map(row => row.id)])
    },
    drawChart() {
      const canvas = this.$refs.chart
      if (!canvas || !window.Chart) return
      const days = [...new Set(this.daily.map(row => row.day))].sort()
      const machineIds = [...new Set(this.daily.map(row => row.machine_id))]
      const datasets = machineIds.map(id => ({
        label: this.machineName(id),
        data: days.map(day => {
          const row = this.daily.find(r => r.day === day && r.machine_id === id)
          return row ? row[this.chartMetric] : 0
        })
      }))
      if (this.chart) this.chart.destroy()
      this.chart = new Chart(canvas, {
        type: 'bar',
        data: {labels: days, datasets},
        options: {
          maintainAspectRatio: false,
          animation: false,
          scales: {
            x: {stacked: true},
            y: {stacked: true, title: {display: true, text: 'sats'}}
          }
        }
      })
    },
    async poll() {
      this.nowSeconds = Math.floor(Date.now() / 1000)
      if (document.hidden) return
      try {
        await Promise.all([
          this.refreshSettlements(),
          this.loadHealth(),
          this.loadAttention(),
          this.loadMachines()
        ])
        // The chart and the LP balances move with settlements, only slower.
        this.polls = (this.polls || 0) + 1
        if (this.polls % SLOW_POLL_EVERY === 0) {
          await Promise.all([this.loadLps(), this.loadOverview()])
        }
      } catch (error) {
        // A failed poll is retried at the next tick; the page keeps what it has.
        console.warn('satmachineadmin: refresh failed', error)
      }
    },

    // --- machines ------------------------------------------------------------------
    openMachineDialog(machine) {
      this.machineDialog = machine
        ? {
            show: true,
            id: machine.id,
            name: machine.name,
            location: machine.location || '',
            fiat_code: machine.fiat_code || '',
            dispense_confirmation: machine.dispense_confirmation
          }
        : {
            show: true,
            npub: '',
            name: '',
            location: '',
            fiat_code: '',
            dispense_confirmation: 'report'
          }
    },
    async saveMachine() {
      const d = this.machineDialog
      const body = {
        name: d.name.trim(),
        location: d.location || null,
        fiat_code: d.fiat_code ? d.fiat_code.toUpperCase() : null,
        dispense_confirmation: d.dispense_confirmation
      }
      try {
        if (d.id) {
          await this.call('PATCH', `/machines/${d.id}`, body)
          this.machineDialog.show = false
          this.notifyDone('Machine saved')
          await this.loadMachines()
          return
        }
        const pairing = await this.call('POST', '/machines', {...body, npub: d.npub})
        this.machineDialog.show = false
        await this.loadMachines()
        // The machine must confirm with this one-time code before it is bound.
        this.pairDialog = {show: true, name: body.name, pairing}
        this.pairTimer = setInterval(() => this.pairTick(), 1000)
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    async toggleMachine(machine) {
      const status = machine.status === 'active' ? 'disabled' : 'active'
      try {
        await this.call('PATCH', `/machines/${machine.id}`, {status})
        await this.loadMachines()
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    removeMachine(machine) {
      LNbits.utils
        .confirmDialog(
          `Remove ${machine.name}? Its wallet, and any balance in it, stays in your account.`
        )
        .onOk(async () => {
          try {
            await this.call('DELETE', `/machines/${machine.id}`)
            this.notifyDone('Machine removed')
            await this.loadMachines()
          } catch (error) {
            LNbits.utils.notifyApiError(error)
          }
        })
    },
    openPairDialog() {
      this.pairDialog = {show: true, name: '', location: '', fiat_code: '', pairing: null}
    },
    async createPairing() {
      const d = this.pairDialog
      try {
        d.pairing = await this.call('POST', '/pairings', {
          name: d.name.trim(),
          location: d.location || null,
          fiat_code: d.fiat_code ? d.fiat_code.toUpperCase() : null
        })
        this.pairTimer = setInterval(() => this.pairTick(), 1000)
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    async pairTick() {
      this.nowSeconds = Math.floor(Date.now() / 1000)
      const pairing = this.pairDialog.pairing
      if (!pairing || this.nowSeconds % 3) return
      try {
        const current = (await this.call('GET', '/pairings')).find(
          p => p.id === pairing.id
        )
        if (current && current.machine_id) {
          this.stopPairCountdown()
          await this.loadMachines()
          this.pairDialog.pairedMachine = this.machineName(current.machine_id)
        }
      } catch (error) {
        console.warn('satmachineadmin: pairing status failed', error)
      }
    },
    stopPairCountdown() {
      clearInterval(this.pairTimer)
      this.pairTimer = null
    },

    // --- splits --------------------------------------------------------------------
    addRule() {
      const left = Math.max(0, 100 - this.weightsTotal)
      this.ruleDrafts.push(ruleDraft({weight_bps: Math.round(left * 100)}))
    },
    schedulePreview() {
      clearTimeout(this.previewTimer)
      this.previewTimer = setTimeout(() => this.loadPreview(), 250)
    },
    async loadPreview() {
      const commission = this.previewCommission
      if (!Number.isInteger(commission) || commission < 0) {
        this.preview = null
        this.previewError = 'The example commission is a whole number of sats.'
        return
      }
      if (this.rulesProblem) {
        this.preview = null
        this.previewError = this.rulesProblem
        return
      }
      try {
        this.preview = await this.call('POST', '/splits/preview', {
          commission_sats: commission,
          direction: this.previewDirection,
          rules: this.draftRulesBody
        })
        this.previewError = ''
      } catch (error) {
        this.preview = null
        this.previewError = error.response
          ? String(error.response.data.detail)
          : String(error)
      }
    },
    async saveRules() {
      if (this.rulesProblem) {
        this.notifyProblem(this.rulesProblem)
        return
      }
      try {
        const saved = await this.call('PUT', '/splits', {rules: this.draftRulesBody})
        this.rules = saved.rules
        this.resetRules()
        this.notifyDone('Split rules saved')
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },

    // --- settlements ---------------------------------------------------------------
    async showSettlement(row) {
      try {
        this.detail = {show: true, settlement: await this.call('GET', `/settlements/${row.id}`)}
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    openManualDialog() {
      const machine = this.machines[0]
      this.manualDialog = {
        show: true,
        machine_id: machine ? machine.id : null,
        direction: 'cash_out',
        principal_sats: null,
        fee_sats: null,
        fiat_amount: '',
        fiat_code: machine ? machine.fiat_code || '' : '',
        exchange_rate: '',
        tx_id: '',
        note: ''
      }
    },
    manualMachineChosen(id) {
      const machine = this.machines.find(m => m.id === id)
      if (machine && machine.fiat_code) this.manualDialog.fiat_code = machine.fiat_code
    },
    async saveManual() {
      const d = this.manualDialog
      try {
        const settlement = await this.call('POST', '/settlements/manual', {
          machine_id: d.machine_id,
          direction: d.direction,
          principal_sats: d.principal_sats,
          fee_sats: d.fee_sats,
          fiat_amount: d.fiat_amount,
          fiat_code: d.fiat_code.toUpperCase(),
          exchange_rate: d.exchange_rate,
          tx_id: d.tx_id || null,
          note: d.note || null
        })
        this.manualDialog.show = false
        this.notifyDone(`Recorded ${settlement.tx_id}`)
        await Promise.all([this.refreshSettlements(), this.loadOverview()])
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    async retrySettlement(settlement) {
      try {
        await this.call('POST', `/settlements/${settlement.id}/retry`)
        this.notifyDone('Failed payouts queued again')
        this.detail.show = false
        await Promise.all([this.loadAttention(), this.refreshSettlements()])
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    openResolveDialog(tx) {
      this.resolveDialog = {show: true, tx, resolution: 'full', dispensed_fiat: '', note: ''}
    },
    async resolveAbandoned() {
      const d = this.resolveDialog
      try {
        await this.call('POST', `/abandoned/${d.tx.id}/resolve`, {
          resolution: d.resolution,
          dispensed_fiat: d.resolution === 'partial' ? d.dispensed_fiat : null,
          note: d.note || null
        })
        this.resolveDialog.show = false
        this.notifyDone('Resolved')
        await Promise.all([this.loadAttention(), this.refreshSettlements()])
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },

    // --- liquidity providers -------------------------------------------------------
    openEnrolDialog() {
      this.enrolDialog = {show: true, code: '', fiat_code: '', display_name: ''}
    },
    async enrolLp() {
      const d = this.enrolDialog
      try {
        await this.call('POST', '/lps', {
          code: d.code,
          fiat_code: d.fiat_code.toUpperCase(),
          display_name: d.display_name || null
        })
        this.enrolDialog.show = false
        this.notifyDone('LP enrolled')
        await this.loadLps()
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    openDepositDialog(lp) {
      this.depositDialog = {show: true, lp, fiat_amount: '', note: '', confirm: true}
    },
    async recordDeposit() {
      const d = this.depositDialog
      try {
        const deposit = await this.call('POST', `/lps/${d.lp.id}/deposits`, {
          fiat_amount: d.fiat_amount,
          note: d.note || null
        })
        if (d.confirm) await this.call('PUT', `/deposits/${deposit.id}/confirm`)
        this.depositDialog.show = false
        this.notifyDone(d.confirm ? 'Deposit recorded and confirmed' : 'Deposit recorded')
        await this.loadLps()
      } catch (error) {
        LNbits.utils.notifyApiError(error)
        await this.loadLps()
      }
    },
    async confirmDeposit(deposit) {
      try {
        await this.call('PUT', `/deposits/${deposit.id}/confirm`)
        this.notifyDone('Deposit confirmed')
        await this.loadLps()
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    openSettleDialog(lp) {
      this.settleDialog = {
        show: true,
        lp,
        wallet_id: null,
        fiat_amount: '',
        exchange_rate: '',
        confirm_without_market_rate: false,
        note: '',
        // One key per dialog: a double click or a resubmit settles once.
        idempotency_key: newKey()
      }
    },
    async settleBalance() {
      const d = this.settleDialog
      try {
        const {data: done} = await LNbits.api.request(
          'POST',
          `${API}/lps/${d.lp.id}/settle`,
          null,
          {
            wallet_id: d.wallet_id,
            fiat_amount: d.fiat_amount || null,
            exchange_rate: d.exchange_rate || null,
            confirm_without_market_rate: !!d.exchange_rate && d.confirm_without_market_rate,
            note: d.note || null
          },
          {headers: {'Idempotency-Key': d.idempotency_key}}
        )
        this.settleDialog.show = false
        this.notifySettlement(done, 'Settled')
        await Promise.all([this.loadLps(), this.loadAttention()])
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    notifySettlement(row, what) {
      const amount = `${row.fiat_amount} ${row.fiat_code} (${sats(row.sats)})`
      if (row.status === 'paid') this.notifyDone(`${what}: ${amount} paid`)
      else if (row.status === 'failed') {
        this.notifyProblem(
          `${amount} not paid: ${row.last_error}. It stays held from the LP's balance until you retry or void it (Needs attention).`
        )
      } else this.notifyDone(`${what}: ${amount} is being paid`)
    },
    async retryBalanceSettlement(row) {
      try {
        const done = await this.call('POST', `/balance-settlements/${row.id}/retry`)
        this.notifySettlement(done, 'Retried')
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
      await Promise.all([this.loadLps(), this.loadAttention()])
    },
    voidBalanceSettlement(row) {
      LNbits.utils
        .confirmDialog(
          `Void this settlement of ${row.fiat_amount} ${row.fiat_code}? Nothing is paid, and the amount goes back into the LP's balance.`
        )
        .onOk(async () => {
          try {
            await this.call('POST', `/balance-settlements/${row.id}/void`)
            this.notifyDone(`Voided: ${row.fiat_amount} ${row.fiat_code} back in the balance`)
          } catch (error) {
            LNbits.utils.notifyApiError(error)
          }
          await Promise.all([this.loadLps(), this.loadAttention()])
        })
    }
  },
  async created() {
    try {
      const [fee] = await Promise.all([
        this.call('GET', '/platform-fee'),
        this.loadMachines(),
        this.loadRules(),
        this.loadHealth()
      ])
      this.fee = fee
      await Promise.all([
        this.refreshSettlements(),
        this.loadAttention(),
        this.loadLps(),
        this.loadOverview()
      ])
    } catch (error) {
      LNbits.utils.notifyApiError(error)
    }
    this.pollTimer = setInterval(() => this.poll(), POLL_MS)
  },
  beforeUnmount() {
    clearInterval(this.pollTimer)
    this.stopPairCountdown()
  }
})
