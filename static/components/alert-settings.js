// Alerts: which are sent and when (through the notification channels of the
// user's LNbits account), what is going on now, and what was sent.
// Self-contained: it talks to the API itself.
const ALERT_API = '/satmachineadmin/api/v1/alerts'

window.app.component('alert-settings', {
  data() {
    return {settings: null, active: [], sent: [], busy: false}
  },
  computed: {
    numbers() {
      return [
        ['offline_after_min', 'Offline after (minutes)'],
        ['cassette_low_percent', 'A cassette low at (%)'],
        ['cashbox_full_percent', 'The cashbox full at (%)'],
        ['within_hours', 'Or empty / full within (hours, 0: off)'],
        ['payouts_failing_after_min', 'Payouts failing for (minutes)'],
        ['relay_down_after_min', 'A relay down for (minutes, super user)'],
        ['hold_down_min', 'Resolved after clear for (minutes)'],
        ['repeat_hours', 'Remind every (hours, 0: never)']
      ]
    },
    kinds() {
      return [
        ['machine_offline', 'A machine offline'],
        ['cash_low', 'Cash low, or the cashbox full'],
        ['payouts_failing', 'Payouts failing'],
        ['fee_mismatch', 'A fee other than the schedule'],
        ['pairing_used', 'A machine paired'],
        ['relay_down', 'A relay down (super user)']
      ]
    }
  },
  methods: {
    when(seconds) {
      return seconds ? new Date(seconds * 1000).toLocaleString() : ''
    },
    async call(method, path, data) {
      return (await LNbits.api.request(method, `${ALERT_API}${path}`, null, data))
        .data
    },
    async load() {
      try {
        const [settings, active, sent] = await Promise.all([
          this.call('GET', '/settings'),
          this.call('GET', '/active'),
          this.call('GET', '?limit=50')
        ])
        this.settings = Object.fromEntries(
          Object.entries(settings).map(([k, v]) => [
            k,
            typeof v === 'number' ? String(v) : v
          ])
        )
        this.active = active
        this.sent = sent
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      }
    },
    async save() {
      this.busy = true
      try {
        const body = Object.fromEntries(
          Object.entries(this.settings).map(([k, v]) => [
            k,
            typeof v === 'string' && /^[0-9]+$/.test(v.trim()) ? Number(v) : v
          ])
        )
        await this.call('PUT', '/settings', body)
        Quasar.Notify.create({type: 'positive', message: 'Alert settings saved'})
        await this.load()
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      } finally {
        this.busy = false
      }
    }
  },
  created() {
    this.load()
  },
  template: `
  <q-card data-test="alert-settings">
    <q-card-section>
      <div class="text-h6">Alerts</div>
      <div class="text-caption">Sent to the Telegram chat, Nostr identifier or
        e-mail set in your LNbits account settings.</div>
    </q-card-section>
    <q-card-section v-if="settings">
      <q-toggle v-model="settings.enabled" label="Send alerts"
        data-test="alerts-enabled"></q-toggle>
      <div class="row q-gutter-sm">
        <q-checkbox v-for="k in kinds" :key="k[0]" v-model="settings[k[0]]"
          :label="k[1]" :data-test="'alert-kind-' + k[0]"></q-checkbox>
      </div>
      <div class="row q-gutter-sm q-mt-sm">
        <q-input v-for="n in numbers" :key="n[0]" dense filled
          v-model="settings[n[0]]" :label="n[1]" style="min-width: 230px"
          :data-test="'alert-' + n[0]"></q-input>
      </div>
      <q-btn class="q-mt-sm" unelevated color="primary" label="Save alerts"
        :loading="busy" data-test="alerts-save" @click="save"></q-btn>
    </q-card-section>
    <q-card-section>
      <div class="text-subtitle2">Now</div>
      <div v-if="!active.length" data-test="alerts-active">All quiet</div>
      <q-list v-else dense data-test="alerts-active">
        <q-item v-for="a in active" :key="a.kind + a.subject">
          <q-item-section v-text="a.kind + ' ' + a.subject + ': ' + a.phase
            + (a.fired_at ? ' since ' + when(a.fired_at) : '')"></q-item-section>
        </q-item>
      </q-list>
      <div class="text-subtitle2 q-mt-md">Sent</div>
      <q-list dense separator data-test="alerts-sent">
        <q-item v-if="!sent.length"><q-item-section>Nothing sent yet
          </q-item-section></q-item>
        <q-item v-for="e in sent" :key="e.id">
          <q-item-section>
            <q-item-label v-text="e.message"></q-item-label>
            <q-item-label caption v-text="when(e.created_at) + ' · ' + e.action
              + ' · ' + e.delivery"></q-item-label>
          </q-item-section>
        </q-item>
      </q-list>
    </q-card-section>
  </q-card>`
})
