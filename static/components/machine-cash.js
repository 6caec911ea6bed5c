// The cash panel of one machine: its cassettes (last reported count, estimate
// now, fiat held, days until empty), the cashbox (fill, days until full, batch),
// the counts with their reconciliation, the cassette and refill forms, and the
// machine's notes. Self-contained: it talks to the API itself.
window.app.component('machine-cash', {
  props: {machine: {type: Object, required: true}},
  data() {
    return {
      cash: null,
      notes: [],
      note: '',
      editing: [],
      cashboxCapacity: '',
      loaded: {},
      found: {},
      removedCount: '',
      removedFiat: '',
      busy: false
    }
  },
  computed: {
    base() {
      return `/satmachineadmin/api/v1/machines/${this.machine.id}`
    },
    code() {
      return this.machine.fiat_code || ''
    },
    reconciliations() {
      return (this.cash ? this.cash.counts : []).filter(c => c.kind !== 'cassettes')
    }
  },
  methods: {
    when(seconds) {
      return window.SatMachine.format.when(seconds)
    },
    // Fiat as the rest of the pages write it: grouped, in the currency's decimals.
    fiat(amount) {
      return window.SatMachine.format.fiat(amount, this.code)
    },
    signed(n) {
      return n > 0 ? `+${n}` : `${n}`
    },
    async call(method, path, data) {
      const url = `${this.base}${path}`
      return (await LNbits.api.request(method, url, null, data)).data
    },
    show(cash) {
      this.cash = cash
      const positions = cash.document ? cash.document.positions : {}
      this.editing = Object.keys(positions)
        .sort((a, b) => Number(a) - Number(b))
        .map(p => ({
          denomination: positions[p].denomination,
          capacity: String(positions[p].capacity)
        }))
      if (!this.editing.length) this.editing = [{denomination: '', capacity: ''}]
      this.cashboxCapacity =
        cash.cashbox.capacity === null ? '' : String(cash.cashbox.capacity)
      this.loaded = Object.fromEntries(
        cash.cassettes.map(c => [c.position, String(c.capacity)])
      )
      this.found = {}
    },
    async load() {
      try {
        const [cash, notes] = await Promise.all([
          this.call('GET', '/cash'),
          this.call('GET', '/notes?limit=50')
        ])
        this.show(cash)
        this.notes = notes
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    async act(work) {
      this.busy = true
      try {
        await work()
      } catch (error) {
        window.SatMachine.notify.error(error)
      } finally {
        this.busy = false
      }
    },
    // The cashbox in one line: count, fill, fiat, days until full, batch.
    cashboxText() {
      const t = (key, values) => this.$t(`satmachineadmin.${key}`, values || {})
      const box = this.cash.cashbox
      let text =
        box.count === null
          ? t('cash_not_counted')
          : t('cash_bills', {n: box.count})
      if (box.capacity) text += ' ' + t('cash_of_capacity', {n: box.capacity})
      if (box.fill_percent !== null) {
        text += ' ' + t('cash_percent_full', {n: box.fill_percent})
      }
      if (box.fiat) text += `, ${this.fiat(box.fiat)}`
      text += '; ' + t('cash_days_until_full', {n: box.days_until_full || '–'})
      if (box.batch) {
        text +=
          '; ' + t('cash_batch', {batch: box.batch, since: this.when(box.batch_opened_at)})
      }
      return t('cash_cashbox', {text})
    },
    // Each field's bounds are the API's (models/fleet.py): the form names the
    // field that is wrong before anything is sent.
    wholeRule: window.SatMachine.wholeInRange,
    decimalRule(optional) {
      return value => {
        const text = String(value ?? '').trim()
        if (text === '') return optional || this.$t('satmachineadmin.rule_required')
        return SatmFees.DECIMAL.test(text) || this.$t('satmachineadmin.rule_decimal')
      }
    },
    whole(text) {
      return /^[0-9]+$/.test(String(text).trim()) ? Number(text) : text
    },
    saveCassettes() {
      return this.act(async () => {
        const body = {
          cassettes: this.editing.map((c, i) => ({
            position: String(i + 1),
            denomination: String(c.denomination).trim(),
            capacity: this.whole(c.capacity)
          })),
          cashbox_capacity:
            String(this.cashboxCapacity).trim() === ''
              ? null
              : this.whole(this.cashboxCapacity)
        }
        this.show(await this.call('PUT', '/cassettes', body))
        Quasar.Notify.create({
          type: 'positive',
          message: this.$t('satmachineadmin.done_cassettes_saved')
        })
      })
    },
    recordRefill() {
      return this.act(async () => {
        const counts = source =>
          Object.fromEntries(
            Object.entries(source)
              .filter(([, v]) => String(v).trim() !== '')
              .map(([p, v]) => [p, this.whole(v)])
          )
        const body = {loaded: counts(this.loaded), found: counts(this.found)}
        if (String(this.removedCount).trim() !== '')
          body.cashbox_count = this.whole(this.removedCount)
        if (String(this.removedFiat).trim() !== '')
          body.cashbox_fiat = String(this.removedFiat).trim()
        this.show(await this.call('POST', '/refills', body))
        this.removedCount = ''
        this.removedFiat = ''
        Quasar.Notify.create({
          type: 'positive',
          message: this.$t('satmachineadmin.done_refill_recorded')
        })
      })
    },
    addNote() {
      return this.act(async () => {
        const added = await this.call('POST', '/notes', {text: this.note})
        this.notes = [added, ...this.notes]
        this.note = ''
      })
    }
  },
  created() {
    this.load()
  },
  template: `
  <div data-test="machine-cash">
    <div class="text-subtitle1" v-text="$t('satmachineadmin.cash_title', {name: machine.name})"></div>
    <div v-if="cash && cash.version" class="text-caption" data-test="cash-version"
      v-text="$t('satmachineadmin.cash_version', {version: cash.version, issued: when(cash.issued_at)})"></div>
    <q-markup-table v-if="cash && cash.cassettes.length" dense flat
      data-test="cash-cassettes">
      <thead><tr>
        <th class="text-left" v-text="$t('satmachineadmin.ui_cassette')"></th><th v-text="$t('satmachineadmin.ui_denomination')"></th><th v-text="$t('satmachineadmin.ui_capacity')"></th>
        <th v-text="$t('satmachineadmin.ui_last_reported')"></th><th v-text="$t('satmachineadmin.ui_estimated_now')"></th><th v-text="$t('satmachineadmin.ui_fiat_held')"></th>
        <th v-text="$t('satmachineadmin.ui_days_until_empty')"></th>
      </tr></thead>
      <tbody>
        <tr v-for="c in cash.cassettes" :key="c.position"
          :data-test="'cassette-' + c.position">
          <td class="text-left" v-text="c.position"></td>
          <td class="text-right" v-text="fiat(c.denomination)"></td>
          <td class="text-right" v-text="c.capacity"></td>
          <td class="text-right"
            v-text="c.last_count === null ? '–' : c.last_count"></td>
          <td class="text-right" v-text="c.estimated_count + ' (' + c.fill_percent
            + ' %)'"></td>
          <td class="text-right" v-text="fiat(c.fiat_held)"></td>
          <td class="text-right" v-text="c.days_until_empty || '–'"></td>
        </tr>
      </tbody>
    </q-markup-table>
    <div v-if="cash && cash.cassettes.length" class="q-mt-sm" data-test="cash-totals"
      v-text="$t('satmachineadmin.cash_totals', {fiat: fiat(cash.fiat_held), days: cash.days_until_empty || '–'})">
    </div>
    <div v-if="cash" class="q-mt-sm" data-test="cashbox"
      v-text="cashboxText()"></div>

    <div class="text-subtitle2 q-mt-md" v-text="$t('satmachineadmin.ui_reconciliation')"></div>
    <q-list dense separator data-test="cash-counts">
      <q-item v-if="!reconciliations.length">
        <q-item-section v-text="$t('satmachineadmin.ui_no_counts_yet')"></q-item-section></q-item>
      <q-item v-for="c in reconciliations" :key="c.id">
        <q-item-section>
          <q-item-label v-text="when(c.created_at) + ' · '
            + (c.kind === 'report' ? $t('satmachineadmin.cash_reported_by_machine') : $t('satmachineadmin.cash_refill'))"></q-item-label>
          <q-item-label caption>
            <span v-for="(d, p) in c.differences" :key="p" class="q-mr-md"
              v-text="$t('satmachineadmin.cash_difference', {position: p, counted: c.counted[p], estimated: c.estimated[p], difference: signed(d)})"></span>
            <span v-text="$t('satmachineadmin.cash_dispensed_settled', {dispensed: fiat(c.bills_fiat), settled: fiat(c.settled_fiat)})"></span>
          </q-item-label>
        </q-item-section>
      </q-item>
    </q-list>

    <div class="text-subtitle2 q-mt-md" v-text="$t('satmachineadmin.ui_cassettes')"></div>
    <q-form novalidate greedy @submit="saveCassettes">
    <div v-for="(c, i) in editing" :key="i" class="row q-gutter-sm items-center">
      <span v-text="i + 1"></span>
      <q-input dense filled v-model="c.denomination" :label="$t('satmachineadmin.ui_denomination')"
        :rules="[decimalRule(false)]"
        :data-test="'cassette-denomination-' + (i + 1)"></q-input>
      <q-input dense filled v-model="c.capacity" :label="$t('satmachineadmin.ui_capacity_bills')"
        :rules="[wholeRule(1, 100000, false)]" inputmode="numeric"
        :data-test="'cassette-capacity-' + (i + 1)"></q-input>
      <q-btn flat dense icon="remove_circle" :disable="editing.length === 1"
        :data-test="'cassette-remove-' + (i + 1)" @click="editing.splice(i, 1)"></q-btn>
    </div>
    <div class="row q-gutter-sm q-mt-xs items-center">
      <q-btn flat dense icon="add" :label="$t('satmachineadmin.ui_cassette')" data-test="cassette-add"
        @click="editing.push({denomination: '', capacity: ''})"></q-btn>
      <q-input dense filled v-model="cashboxCapacity" :label="$t('satmachineadmin.ui_cashbox_capacity')"
        :rules="[wholeRule(1, 1000000, true)]" inputmode="numeric"
        data-test="cashbox-capacity"></q-input>
      <q-btn unelevated color="primary" :label="$t('satmachineadmin.ui_save_cassettes')" :loading="busy"
        type="submit" data-test="cassettes-save"></q-btn>
    </div>
    </q-form>

    <template v-if="cash && cash.cassettes.length">
      <div class="text-subtitle2 q-mt-md" v-text="$t('satmachineadmin.ui_record_a_refill')"></div>
      <q-form novalidate greedy @submit="recordRefill">
      <div v-for="c in cash.cassettes" :key="c.position"
        class="row q-gutter-sm items-center">
        <span v-text="$t('satmachineadmin.cash_cassette_n', {n: c.position})"></span>
        <q-input dense filled v-model="found[c.position]" :label="$t('satmachineadmin.ui_found_before')"
          :rules="[wholeRule(0, 1000000, true)]" inputmode="numeric"
          :data-test="'refill-found-' + c.position"></q-input>
        <q-input dense filled v-model="loaded[c.position]" :label="$t('satmachineadmin.ui_loaded')"
          :rules="[wholeRule(0, 1000000, true)]" inputmode="numeric"
          :data-test="'refill-loaded-' + c.position"></q-input>
      </div>
      <div class="row q-gutter-sm q-mt-xs items-center">
        <q-input dense filled v-model="removedCount" :label="$t('satmachineadmin.ui_cashbox_bills_removed')"
          :rules="[wholeRule(0, 1000000, true)]" inputmode="numeric"
          data-test="refill-cashbox-count"></q-input>
        <q-input dense filled v-model="removedFiat" :label="$t('satmachineadmin.ui_cashbox_fiat_removed')"
          :rules="[decimalRule(true)]"
          data-test="refill-cashbox-fiat"></q-input>
        <q-btn unelevated color="primary" :label="$t('satmachineadmin.ui_record_refill')" :loading="busy"
          type="submit" data-test="refill-save"></q-btn>
      </div>
      </q-form>
    </template>

    <div class="text-subtitle2 q-mt-md" v-text="$t('satmachineadmin.ui_notes')"></div>
    <div class="row q-gutter-sm items-center">
      <q-input class="col" dense filled autogrow v-model="note" maxlength="2000"
        :label="$t('satmachineadmin.ui_a_note_e_g_refilled_jammed_bill_in_casse')"
        data-test="note-text"></q-input>
      <q-btn unelevated color="primary" :label="$t('satmachineadmin.ui_add_note')" :loading="busy"
        :disable="!note.trim()" data-test="note-add" @click="addNote"></q-btn>
    </div>
    <q-list dense separator data-test="notes">
      <q-item v-for="n in notes" :key="n.id">
        <q-item-section>
          <q-item-label style="white-space: pre-wrap; overflow-wrap: anywhere"
            v-text="n.text"></q-item-label>
          <q-item-label caption v-text="n.author + ' · ' + when(n.created_at)">
          </q-item-label>
        </q-item-section>
      </q-item>
    </q-list>
  </div>`
})
