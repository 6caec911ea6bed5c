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
      // Each field's bounds are the API's (models/alerts.py): the form says
      // which field is wrong before anything is sent.
      return [
        ['offline_after_min', 1, 1440],
        ['cassette_low_percent', 0, 100],
        ['cashbox_full_percent', 0, 100],
        ['within_hours', 0, 720],
        ['payouts_failing_after_min', 1, 1440],
        ['relay_down_after_min', 1, 1440],
        ['hold_down_min', 0, 1440],
        ['repeat_hours', 0, 720]
      ].map(([name, min, max]) => ({
        name,
        label: this.$t(`satmachineadmin.alert_${name}`),
        rules: [window.SatMachine.wholeInRange(min, max, false)]
      }))
    },
    kinds() {
      return [
        'machine_offline',
        'cash_low',
        'payouts_failing',
        'fee_mismatch',
        'pairing_used',
        'relay_down'
      ].map(name => [name, this.$t(`satmachineadmin.alert_kind_${name}`)])
    }
  },
  methods: {
    when(seconds) {
      return window.SatMachine.format.when(seconds)
    },
    word(prefix, value) {
      return window.SatMachine.word(prefix, value)
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
        window.SatMachine.notify.error(error)
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
        Quasar.Notify.create({
          type: 'positive',
          message: this.$t('satmachineadmin.done_alert_settings_saved')
        })
        await this.load()
      } catch (error) {
        window.SatMachine.notify.error(error)
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
      <div class="text-h6" v-text="$t('satmachineadmin.tab_alerts')"></div>
      <div class="text-caption" v-text="$t('satmachineadmin.ui_sent_to_the_telegram_chat_nostr_identifi')"></div>
    </q-card-section>
    <q-form v-if="settings" novalidate greedy @submit="save">
    <q-card-section>
      <q-toggle v-model="settings.enabled" :label="$t('satmachineadmin.ui_send_alerts')"
        data-test="alerts-enabled"></q-toggle>
      <div class="row q-gutter-sm">
        <q-checkbox v-for="k in kinds" :key="k[0]" v-model="settings[k[0]]"
          :label="k[1]" :data-test="'alert-kind-' + k[0]"></q-checkbox>
      </div>
      <div class="row q-gutter-sm q-mt-sm">
        <q-input v-for="n in numbers" :key="n.name" dense filled
          v-model="settings[n.name]" :label="n.label" :rules="n.rules"
          inputmode="numeric" style="min-width: 230px"
          :data-test="'alert-' + n.name"></q-input>
      </div>
      <q-btn class="q-mt-sm" unelevated color="primary" :label="$t('satmachineadmin.ui_save_alerts')"
        :loading="busy" type="submit" data-test="alerts-save"></q-btn>
    </q-card-section>
    </q-form>
    <q-card-section>
      <div class="text-subtitle2" v-text="$t('satmachineadmin.ui_now')"></div>
      <div v-if="!active.length" data-test="alerts-active" v-text="$t('satmachineadmin.ui_all_quiet')"></div>
      <q-list v-else dense data-test="alerts-active">
        <q-item v-for="a in active" :key="a.kind + a.subject">
          <q-item-section v-text="word('alert_kind', a.kind) + ' ' + a.subject + ': '
            + word('alert_phase', a.phase)
            + (a.fired_at ? ' ' + $t('satmachineadmin.alert_since', {when: when(a.fired_at)}) : '')"></q-item-section>
        </q-item>
      </q-list>
      <div class="text-subtitle2 q-mt-md" v-text="$t('satmachineadmin.ui_sent')"></div>
      <q-list dense separator data-test="alerts-sent">
        <q-item v-if="!sent.length"><q-item-section v-text="$t('satmachineadmin.ui_nothing_sent_yet')"></q-item-section></q-item>
        <q-item v-for="e in sent" :key="e.id">
          <q-item-section>
            <q-item-label v-text="e.message"></q-item-label>
            <q-item-label caption v-text="when(e.created_at) + ' · ' + word('alert_action', e.action)
              + ' · ' + word('alert_delivery', e.delivery)"></q-item-label>
          </q-item-section>
        </q-item>
      </q-list>
    </q-card-section>
  </q-card>`
})
