// The operator dashboard. Every number comes from the extension's API; the page
// only checks input early so that the API's refusals are the exception.
const {API, format: fmt, parseAmount, t} = window.SatMachine
// How often the page polls (ms): from min up to max while nothing changes and no
// notices arrive over the websocket; every `pushed` while they do, in case one
// is lost. window.SatMachinePolling overrides them (tests slow the polls down).
const POLLING = {min: 5000, max: 20000, pushed: 60000, ...window.SatMachinePolling}
const SLOW_POLL_EVERY = 3 // polls: the overview and LPs every third poll
const FRESH_MS = 8000 // how long a new settlement's highlight takes to fade
const FIAT_CODE = /^[A-Za-z]{3}$/

const sats = fmt.sats
const when = fmt.when
const fiat = row => fmt.fiat(row.fiat_amount, row.fiat_code)
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

window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  delimiters: ['${', '}'],
  data() {
    return {
      tab: 'overview',
      cashMachine: null,
      fee: {},
      health: {},
      machines: [],
      expectedMachines: [],
      rules: null, // until loaded (the split editor waits for them)
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
      scheduleDialog: {show: false, lp: null, offered: []},
      deposits: [],
      balanceSettlements: [],
      failedBalanceSettlements: [],
      machineDialog: {show: false},
      pairDialog: {show: false, pairing: null},
      manualDialog: {show: false},
      detail: {show: false, settlement: null},
      resolveDialog: {show: false},
      enrolDialog: {show: false},
      depositDialog: {show: false},
      settleDialog: {show: false},
      nowSeconds: Math.floor(Date.now() / 1000),
      ...window.SatMachineColumns.operator(this)
    }
  },
  computed: {
    settlingLp() {
      // The LP as last loaded: a sale landing while the dialog is open lowers
      // the balance it shows.
      const lp = this.settleDialog.lp
      return (lp && this.lps.find(row => row.id === lp.id)) || lp
    },
    directionOptions() {
      return [
        {label: t('direction_option_cash_out'), value: 'cash_out'},
        {label: t('direction_option_cash_in'), value: 'cash_in'}
      ]
    },
    statusOptions() {
      return ['processing', 'settled', 'failed'].map(value => ({
        label: t(`status_${value}`),
        value
      }))
    },
    narrow() {
      // A phone: table buttons show their icon only (their name stays for
      // screen readers and tooltips).
      return this.$q.screen.lt.sm
    },
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
      return t('fee_of_basis', {
        percent: this.percent(bps),
        basis: t(`basis_${this.fee[`${direction}_fee_basis`]}`)
      })
    },
    short(npub) {
      return npub ? `${npub.slice(0, 10)}…${npub.slice(-4)}` : ''
    },
    ago(seconds) {
      if (!seconds) return t('ago_never')
      const diff = Math.max(0, this.nowSeconds - seconds)
      if (diff < 60) return t('ago_seconds', {n: diff})
      if (diff < 3600) return t('ago_minutes', {n: Math.floor(diff / 60)})
      return when(seconds)
    },
    statusColor: window.SatMachine.statusColor,
    statusWord: window.SatMachine.statusWord,
    word: window.SatMachine.word,

    lpName(enrolmentId) {
      const lp = this.lps.find(e => e.id === enrolmentId)
      return lp ? lp.name : t('a_liquidity_provider')
    },
    legTarget(leg) {
      // Another person's wallet (the platform's, an LP's) is shown by name only.
      if (leg.kind === 'platform_fee') return t('col_platform_fee')
      if (leg.target_name) return leg.target_name
      if (leg.lp_enrolment_id) return this.lpName(leg.lp_enrolment_id)
      return leg.ln_address || leg.label || ''
    },
    machineName(id) {
      const machine = this.machines.find(m => m.id === id)
      return machine ? machine.name : id
    },
    notifyDone: window.SatMachine.notify.done,
    notifyProblem: window.SatMachine.notify.problem,
    notifyError: window.SatMachine.notify.error,
    fit(columns) {
      return window.SatMachine.visibleColumns(columns, this.$q.screen.width)
    },
    fiat,
    progress: window.SatMachine.progress,

    totalRows(totals) {
      if (!totals) return []
      const amounts = totals.by_currency.map(fiat)
      return [
        {label: t('tab_settlements'), value: LNbits.utils.formatSat(totals.settlements)},
        {label: t('total_fiat_volume'), value: amounts.join(' + ') || '—'},
        {label: t('col_volume'), value: sats(totals.gross_sats)},
        {label: t('col_commission'), value: sats(totals.commission_sats)},
        {label: t('col_platform_fee'), value: sats(totals.platform_fee_sats)},
        {label: t('col_operator_fee'), value: sats(totals.operator_fee_sats)},
        {label: t('total_lp_distributions'), value: sats(totals.lp_allocated_sats)}
      ]
    },

    // --- validation (the API checks again; these only answer sooner) -------------
    validNpub(value) {
      if (!value) return t('rule_npub_required')
      if (/^[0-9a-fA-F]{64}$/.test(value)) return true
      try {
        return NostrTools.nip19.decode(value).type === 'npub' || t('rule_not_npub')
      } catch (error) {
        return t('rule_invalid_npub')
      }
    },
    validFiatCode(value) {
      return !value || FIAT_CODE.test(value) || t('rule_currency_code')
    },
    validSats(value) {
      if (!Number.isInteger(value) || value < 0) return t('rule_whole_sats')
      // 21 million BTC: beyond it a number typed as 1e30 is not even exact.
      return value <= SatmFees.MAX_SATS || t('rule_sats_max')
    },
    validDecimal(value) {
      return parseAmount(value) !== null || t('rule_decimal')
    },
    validPositiveDecimal(value) {
      const text = String(value ?? '').trim()
      // "-5" is an amount, only not one above 0.
      const amount = parseAmount(text.replace(/^-/, ''))
      if (amount === null) return t('rule_amount_format')
      return (!text.startsWith('-') && Number(amount) > 0) || t('rule_amount_above_zero')
    },
    validRate(value) {
      return (
        (parseAmount(value) !== null && Number(parseAmount(value)) > 0) ||
        t('rule_rate')
      )
    },

    // --- loading -------------------------------------------------------------------
    openScheduleDialog(lp) {
      const offered = (lp.payout_schedules_offered || 'each').split(',')
      this.scheduleDialog = {
        show: true,
        lp,
        offered: offered.filter(name => name !== 'each')
      }
    },
    async saveSchedules() {
      const d = this.scheduleDialog
      try {
        await this.call('PUT', `/lps/${d.lp.id}/payout-schedules`, {
          offered: ['each', ...d.offered]
        })
        d.show = false
        await this.loadLps()
      } catch (error) {
        this.notifyError(error)
      }
    },
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
        this.notifyError(error)
      } finally {
        this.settlementsLoading = false
      }
    },
    markFresh(rows) {
      // Highlights settlements that arrived since the last poll, not at first load.
      if (this.knownIds) {
        for (const row of rows) {
          if (!this.knownIds.has(row.id)) {
            this.freshIds[row.id] = true
            setTimeout(() => delete this.freshIds[row.id], FRESH_MS)
          }
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
      this.chart = window.SatMachine.drawChart(this.chart, canvas, {
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
    schedulePoll() {
      clearTimeout(this.pollTimer)
      const wait =
        this.notices && this.notices.isOpen()
          ? POLLING.pushed
          : this.pollMs || POLLING.min
      this.pollTimer = setTimeout(() => this.poll(), wait)
    },
    onNotice(areas) {
      // A notice says only what changed: fetch it now, once, however many
      // notices arrive while a refresh is under way.
      this.noticed = new Set([...(this.noticed || []), ...areas])
      if (this.polling) return
      const noticed = this.noticed
      this.noticed = null
      this.poll({slow: noticed.has('lps') || noticed.has('settlements')})
    },
    onNoticesState(open) {
      // Opened (again): what changed while it was closed is fetched now. Closed:
      // the polls take over at their shortest wait.
      this.pollMs = POLLING.min
      if (open) this.poll({slow: true})
      else this.schedulePoll()
    },
    pollFingerprint() {
      // What a person would notice: new or changed settlements, work to do, a
      // machine going on- or offline. Balances and "last seen" follow these.
      return JSON.stringify([
        this.settlements.map(s => [s.id, s.status, s.legs_done, s.legs_failed]),
        this.attentionCount,
        this.machines.map(m => [m.id, m.online, m.status]),
        this.health.relays_connected
      ])
    },
    async poll({slow = false} = {}) {
      this.nowSeconds = Math.floor(Date.now() / 1000)
      if (document.hidden) {
        this.schedulePoll()
        return
      }
      const before = this.pollFingerprint()
      this.polling = true
      try {
        await Promise.all([
          this.refreshSettlements(),
          this.loadHealth(),
          this.loadAttention(),
          this.loadMachines()
        ])
        // The chart and the LP balances move with settlements, only slower.
        this.polls = (this.polls || 0) + 1
        if (slow || this.polls % SLOW_POLL_EVERY === 0) {
          await Promise.all([this.loadLps(), this.loadOverview()])
        }
      } catch (error) {
        // A failed poll is retried at the next tick; the page keeps what it has.
        console.warn('satmachineadmin: refresh failed', error)
      } finally {
        this.polling = false
      }
      // Nothing changed: wait longer, up to 20 s; a change: back to 5 s.
      const changed = this.pollFingerprint() !== before
      this.pollMs = window.SatMachine.backoff(this.pollMs || POLLING.min, changed, {
        min: POLLING.min,
        max: POLLING.max
      })
      if (this.noticed) this.onNotice([]) // notices that came during this poll
      else this.schedulePoll()
    },
    onVisible() {
      // Back on a hidden tab: catch up at once rather than at the next poll.
      if (!document.hidden) this.poll()
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
          this.notifyDone(t('done_machine_saved'))
          await this.loadMachines()
          return
        }
        const pairing = await this.call('POST', '/machines', {...body, npub: d.npub})
        this.machineDialog.show = false
        await this.loadMachines()
        // The machine must confirm with this one-time code before it is bound.
        this.pairDialog = {show: true, pairing}
      } catch (error) {
        this.notifyError(error)
      }
    },
    async toggleMachine(machine) {
      const status = machine.status === 'active' ? 'disabled' : 'active'
      if (
        status === 'disabled' &&
        !(await window.SatMachine.confirm(
          t('confirm_disable_machine', {name: machine.name})
        ))
      ) {
        return
      }
      try {
        await this.call('PATCH', `/machines/${machine.id}`, {status})
        await this.loadMachines()
        this.notifyDone(
          t(status === 'disabled' ? 'done_machine_disabled' : 'done_machine_enabled', {
            name: machine.name
          })
        )
      } catch (error) {
        this.notifyError(error)
      }
    },
    removeMachine(machine) {
      window.SatMachine
        .confirmDialog(
          t('confirm_remove_machine', {name: machine.name})
        )
        .onOk(async () => {
          try {
            await this.call('DELETE', `/machines/${machine.id}`)
            this.notifyDone(t('done_machine_removed'))
            await this.loadMachines()
          } catch (error) {
            this.notifyError(error)
          }
        })
    },
    openPairDialog() {
      this.pairDialog = {show: true, pairing: null}
    },

    // --- settlements ---------------------------------------------------------------
    async showSettlement(row) {
      try {
        this.detail = {show: true, settlement: await this.call('GET', `/settlements/${row.id}`)}
      } catch (error) {
        this.notifyError(error)
      }
    },
    openManualDialog() {
      const machine = this.machines[0]
      this.manualDialog = {
        show: true,
        machine_id: machine ? machine.id : null,
        direction: 'cash_out',
        principal_sats: null,
        fee: {fee_sats: null, fee_override_reason: null},
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
          ...d.fee,
          fiat_amount: parseAmount(d.fiat_amount),
          fiat_code: d.fiat_code.toUpperCase(),
          exchange_rate: parseAmount(d.exchange_rate),
          tx_id: d.tx_id || null,
          note: d.note || null
        })
        this.manualDialog.show = false
        this.notifyDone(t('done_recorded', {tx: settlement.tx_id}))
        await Promise.all([this.refreshSettlements(), this.loadOverview()])
      } catch (error) {
        this.notifyError(error)
      }
    },
    async retrySettlement(settlement) {
      try {
        const before = settlement.legs_failed
        const after = await this.call('POST', `/settlements/${settlement.id}/retry`)
        const tried = before
          ? t(before === 1 ? 'retried_one' : 'retried_many', {n: before})
          : t('retried')
        if (after.legs_failed) {
          this.notifyProblem(
            t('retry_still_failed', {
              tried,
              failed: after.legs_failed,
              total: after.legs_total,
              reason: after.failure || t('no_reason_given')
            })
          )
        } else {
          this.notifyDone(
            t('retry_paid', {tried, done: after.legs_done, total: after.legs_total})
          )
        }
        this.detail.show = false
        await Promise.all([this.loadAttention(), this.refreshSettlements()])
      } catch (error) {
        this.notifyError(error)
      }
    },
    openResolveDialog(tx) {
      const resolution = tx.direction === 'cash_in' ? 'link' : 'full'
      this.resolveDialog = {show: true, tx, resolution, dispensed_fiat: '', note: '', link: null}
    },
    resolveOptions(tx) {
      if (tx && tx.direction === 'cash_in') {
        return [
          {label: t('resolve_link'), value: 'link'},
          {label: t('resolve_void_refunded'), value: 'void'}
        ]
      }
      return [
        {label: t('resolve_full'), value: 'full'},
        {label: t('resolve_partial'), value: 'partial'},
        {label: t('resolve_void_nothing'), value: 'void'}
      ]
    },
    linkExpiry() {
      return this.resolveDialog.link ? when(this.resolveDialog.link.expires_at) : ''
    },
    async resolveAbandoned() {
      const d = this.resolveDialog
      if (d.resolution === 'link') return this.issueFreshLink()
      try {
        await this.call('POST', `/abandoned/${d.tx.id}/resolve`, {
          resolution: d.resolution,
          dispensed_fiat: d.resolution === 'partial' ? parseAmount(d.dispensed_fiat) : null,
          note: d.note || null
        })
        this.resolveDialog.show = false
        this.notifyDone(t('done_resolved'))
        await Promise.all([this.loadAttention(), this.refreshSettlements()])
      } catch (error) {
        this.notifyError(error)
      }
    },

    async issueFreshLink() {
      const d = this.resolveDialog
      try {
        d.link = await this.call('POST', `/abandoned/${d.tx.id}/link`, {expiry_s: 600})
        this.notifyDone(t('done_show_code'))
        await this.loadAttention()
      } catch (error) {
        this.notifyError(error)
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
        this.notifyDone(t('done_lp_enrolled'))
        await this.loadLps()
      } catch (error) {
        this.notifyError(error)
      }
    },
    openDepositDialog(lp) {
      this.depositDialog = {show: true, lp, fiat_amount: '', note: '', confirm: true}
    },
    async recordDeposit() {
      const d = this.depositDialog
      try {
        const deposit = await this.call('POST', `/lps/${d.lp.id}/deposits`, {
          fiat_amount: parseAmount(d.fiat_amount),
          note: d.note || null
        })
        if (d.confirm) await this.call('PUT', `/deposits/${deposit.id}/confirm`)
        this.depositDialog.show = false
        this.notifyDone(t(d.confirm ? 'done_deposit_recorded_confirmed' : 'done_deposit_recorded'))
        await this.loadLps()
      } catch (error) {
        this.notifyError(error)
        await this.loadLps()
      }
    },
    async confirmDeposit(deposit) {
      try {
        await this.call('PUT', `/deposits/${deposit.id}/confirm`)
        this.notifyDone(t('done_deposit_confirmed'))
        await this.loadLps()
      } catch (error) {
        this.notifyError(error)
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
            fiat_amount: d.fiat_amount ? parseAmount(d.fiat_amount) : null,
            exchange_rate: d.exchange_rate ? parseAmount(d.exchange_rate) : null,
            confirm_without_market_rate: !!d.exchange_rate && d.confirm_without_market_rate,
            note: d.note || null
          },
          {headers: {'Idempotency-Key': d.idempotency_key}}
        )
        this.settleDialog.show = false
        this.notifySettlement(done, t('settled'))
        await Promise.all([this.loadLps(), this.loadAttention()])
      } catch (error) {
        this.notifyError(error)
      }
    },
    notifySettlement(row, what) {
      const amount = `${fiat(row)} (${sats(row.sats)})`
      if (row.status === 'paid') this.notifyDone(t('balance_paid', {what, amount}))
      else if (row.status === 'failed') {
        this.notifyProblem(t('balance_not_paid', {amount, error: row.last_error}))
      } else this.notifyDone(t('balance_being_paid', {what, amount}))
    },
    async retryBalanceSettlement(row) {
      try {
        const done = await this.call('POST', `/balance-settlements/${row.id}/retry`)
        this.notifySettlement(done, t('retried'))
      } catch (error) {
        this.notifyError(error)
      }
      await Promise.all([this.loadLps(), this.loadAttention()])
    },
    voidBalanceSettlement(row) {
      window.SatMachine
        .confirmDialog(
          t('confirm_void_balance', {amount: fiat(row)})
        )
        .onOk(async () => {
          try {
            await this.call('POST', `/balance-settlements/${row.id}/void`)
            this.notifyDone(t('done_voided', {amount: fiat(row)}))
          } catch (error) {
            this.notifyError(error)
          }
          await Promise.all([this.loadLps(), this.loadAttention()])
        })
    }
  },
  async created() {
    window.SatMachine.translateTables(this.$q)
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
      this.notifyError(error)
    }
    this.pollMs = POLLING.min
    this.notices = window.SatMachine.listen(this.onNotice, this.onNoticesState)
    document.addEventListener('visibilitychange', this.onVisible)
    this.schedulePoll()
  },
  beforeUnmount() {
    clearTimeout(this.pollTimer)
    if (this.notices) this.notices.close()
    document.removeEventListener('visibilitychange', this.onVisible)
  }
})
