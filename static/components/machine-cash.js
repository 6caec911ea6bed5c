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
      return seconds ? new Date(seconds * 1000).toLocaleString() : ''
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
        LNbits.utils.notifyApiError(error)
      }
    },
    async act(work) {
      this.busy = true
      try {
        await work()
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      } finally {
        this.busy = false
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
        Quasar.Notify.create({type: 'positive', message: 'Cassettes saved'})
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
        Quasar.Notify.create({type: 'positive', message: 'Refill recorded'})
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
    <div class="text-subtitle1" v-text="'Cash in ' + machine.name"></div>
    <div v-if="cash && cash.version" class="text-caption" data-test="cash-version"
      v-text="'Cassette document version ' + cash.version + ', issued '
        + when(cash.issued_at)"></div>
    <q-markup-table v-if="cash && cash.cassettes.length" dense flat
      data-test="cash-cassettes">
      <thead><tr>
        <th class="text-left">Cassette</th><th>Denomination</th><th>Capacity</th>
        <th>Last reported</th><th>Estimated now</th><th>Fiat held</th>
        <th>Days until empty</th>
      </tr></thead>
      <tbody>
        <tr v-for="c in cash.cassettes" :key="c.position"
          :data-test="'cassette-' + c.position">
          <td class="text-left" v-text="c.position"></td>
          <td class="text-right" v-text="c.denomination + ' ' + code"></td>
          <td class="text-right" v-text="c.capacity"></td>
          <td class="text-right"
            v-text="c.last_count === null ? '–' : c.last_count"></td>
          <td class="text-right" v-text="c.estimated_count + ' (' + c.fill_percent
            + ' %)'"></td>
          <td class="text-right" v-text="c.fiat_held + ' ' + code"></td>
          <td class="text-right" v-text="c.days_until_empty || '–'"></td>
        </tr>
      </tbody>
    </q-markup-table>
    <div v-if="cash && cash.cassettes.length" class="q-mt-sm" data-test="cash-totals"
      v-text="'Held in cassettes: ' + cash.fiat_held + ' ' + code
        + '; days until a cassette is empty: ' + (cash.days_until_empty || '–')">
    </div>
    <div v-if="cash" class="q-mt-sm" data-test="cashbox"
      v-text="'Cashbox: ' + (cash.cashbox.count === null ? 'not counted'
        : cash.cashbox.count + ' bills')
        + (cash.cashbox.capacity ? ' of ' + cash.cashbox.capacity : '')
        + (cash.cashbox.fill_percent === null ? '' : ' (' + cash.cashbox.fill_percent
          + ' % full)')
        + (cash.cashbox.fiat ? ', ' + cash.cashbox.fiat + ' ' + code : '')
        + '; days until full: ' + (cash.cashbox.days_until_full || '–')
        + (cash.cashbox.batch ? '; batch ' + cash.cashbox.batch + ' since '
          + when(cash.cashbox.batch_opened_at) : '')"></div>

    <div class="text-subtitle2 q-mt-md">Reconciliation</div>
    <q-list dense separator data-test="cash-counts">
      <q-item v-if="!reconciliations.length">
        <q-item-section>No counts yet</q-item-section></q-item>
      <q-item v-for="c in reconciliations" :key="c.id">
        <q-item-section>
          <q-item-label v-text="when(c.created_at) + ' · '
            + (c.kind === 'report' ? 'reported by the machine' : 'refill')"></q-item-label>
          <q-item-label caption>
            <span v-for="(d, p) in c.differences" :key="p" class="q-mr-md"
              v-text="'cassette ' + p + ': ' + c.counted[p] + ' counted, '
                + c.estimated[p] + ' estimated (' + signed(d) + ')'"></span>
            <span v-text="'bills dispensed ' + c.bills_fiat + ', settled '
              + c.settled_fiat + ' ' + code"></span>
          </q-item-label>
        </q-item-section>
      </q-item>
    </q-list>

    <div class="text-subtitle2 q-mt-md">Cassettes</div>
    <div v-for="(c, i) in editing" :key="i" class="row q-gutter-sm items-center">
      <span v-text="i + 1"></span>
      <q-input dense filled v-model="c.denomination" label="Denomination"
        :data-test="'cassette-denomination-' + (i + 1)"></q-input>
      <q-input dense filled v-model="c.capacity" label="Capacity (bills)"
        :data-test="'cassette-capacity-' + (i + 1)"></q-input>
      <q-btn flat dense icon="remove_circle" :disable="editing.length === 1"
        @click="editing.splice(i, 1)"></q-btn>
    </div>
    <div class="row q-gutter-sm q-mt-xs items-center">
      <q-btn flat dense icon="add" label="Cassette" data-test="cassette-add"
        @click="editing.push({denomination: '', capacity: ''})"></q-btn>
      <q-input dense filled v-model="cashboxCapacity" label="Cashbox capacity"
        data-test="cashbox-capacity"></q-input>
      <q-btn unelevated color="primary" label="Save cassettes" :loading="busy"
        data-test="cassettes-save" @click="saveCassettes"></q-btn>
    </div>

    <template v-if="cash && cash.cassettes.length">
      <div class="text-subtitle2 q-mt-md">Record a refill</div>
      <div v-for="c in cash.cassettes" :key="c.position"
        class="row q-gutter-sm items-center">
        <span v-text="'Cassette ' + c.position"></span>
        <q-input dense filled v-model="found[c.position]" label="Found before"
          :data-test="'refill-found-' + c.position"></q-input>
        <q-input dense filled v-model="loaded[c.position]" label="Loaded"
          :data-test="'refill-loaded-' + c.position"></q-input>
      </div>
      <div class="row q-gutter-sm q-mt-xs items-center">
        <q-input dense filled v-model="removedCount" label="Cashbox bills removed"
          data-test="refill-cashbox-count"></q-input>
        <q-input dense filled v-model="removedFiat" label="Cashbox fiat removed"
          data-test="refill-cashbox-fiat"></q-input>
        <q-btn unelevated color="primary" label="Record refill" :loading="busy"
          data-test="refill-save" @click="recordRefill"></q-btn>
      </div>
    </template>

    <div class="text-subtitle2 q-mt-md">Notes</div>
    <div class="row q-gutter-sm items-center">
      <q-input class="col" dense filled autogrow v-model="note" maxlength="2000"
        label="A note, e.g. refilled, jammed bill in cassette 2"
        data-test="note-text"></q-input>
      <q-btn unelevated color="primary" label="Add note" :loading="busy"
        :disable="!note.trim()" data-test="note-add" @click="addNote"></q-btn>
    </div>
    <q-list dense separator data-test="notes">
      <q-item v-for="n in notes" :key="n.id">
        <q-item-section>
          <q-item-label style="white-space: pre-wrap" v-text="n.text"></q-item-label>
          <q-item-label caption v-text="n.author + ' · ' + when(n.created_at)">
          </q-item-label>
        </q-item-section>
      </q-item>
    </q-list>
  </div>`
})
