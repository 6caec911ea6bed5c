// Pairing a machine: the form for a new pairing, or the one-time code of a
// machine added by npub, its QR code and time left, until the machine redeems
// it. The page opens it and reloads its machines on "paired".
//
//   <sm-pairing-dialog v-model="pairDialog.show" :pairing="pairDialog.pairing"
//     @paired="loadMachines"></sm-pairing-dialog>
window.app.component('sm-pairing-dialog', {
  props: {
    modelValue: {type: Boolean, default: false},
    // A pairing already made (a machine added by npub); null shows the form.
    pairing: {type: Object, default: null}
  },
  emits: ['update:modelValue', 'paired'],
  data() {
    return {
      form: {name: '', location: '', fiat_code: ''},
      current: null,
      pairedMachine: '',
      nowSeconds: Math.floor(Date.now() / 1000),
      timer: null
    }
  },
  computed: {
    title() {
      return this.current && this.current.expected_npub
        ? this.$t('satmachineadmin.pair_confirm_title')
        : this.$t('satmachineadmin.ui_pair_a_new_machine')
    },
    countdownText() {
      if (!this.current) return ''
      const left = Math.max(0, this.current.expires_at - this.nowSeconds)
      if (!left) return this.$t('satmachineadmin.status_expired')
      return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`
    },
    shortNpub() {
      const npub = this.current && this.current.expected_npub
      return npub ? `${npub.slice(0, 10)}…${npub.slice(-4)}` : ''
    }
  },
  watch: {
    modelValue(open) {
      if (open) this.start()
      else this.stop()
    }
  },
  beforeUnmount() {
    this.stop()
  },
  methods: {
    start() {
      this.form = {name: '', location: '', fiat_code: ''}
      this.current = this.pairing
      this.pairedMachine = ''
      if (this.current) this.watchPairing()
    },
    watchPairing() {
      this.stop()
      this.timer = setInterval(() => this.tick(), 1000)
    },
    stop() {
      clearInterval(this.timer)
      this.timer = null
    },
    validFiatCode(value) {
      return !value || /^[A-Za-z]{3}$/.test(value) || this.$t('satmachineadmin.rule_currency_code')
    },
    async create() {
      try {
        this.current = await window.SatMachine.call('POST', '/pairings', {
          name: this.form.name.trim(),
          location: this.form.location || null,
          fiat_code: this.form.fiat_code ? this.form.fiat_code.toUpperCase() : null
        })
        this.watchPairing()
      } catch (error) {
        window.SatMachine.notify.error(error)
      }
    },
    async tick() {
      this.nowSeconds = Math.floor(Date.now() / 1000)
      if (!this.current || this.nowSeconds % 3) return
      try {
        const found = (await window.SatMachine.call('GET', '/pairings')).find(
          p => p.id === this.current.id
        )
        if (found && found.machine_id) {
          this.stop()
          this.pairedMachine = found.name
          this.$emit('paired', found)
        }
      } catch (error) {
        console.warn('satmachineadmin: pairing status failed', error)
      }
    },
    close(value) {
      this.$emit('update:modelValue', value)
    }
  },
  template: `
    <q-dialog :model-value="modelValue" @update:model-value="close">
      <q-card style="width: 480px; max-width: 95vw" data-test="pair-dialog">
        <q-card-section class="text-h6" v-text="title"></q-card-section>
        <q-form greedy novalidate v-if="!current" @submit="create">
          <q-card-section class="q-gutter-sm">
            <q-input dense outlined v-model="form.name" :label="$t('satmachineadmin.ui_name')" maxlength="64"
              :rules="[v => !!(v && v.trim()) || $t('satmachineadmin.rule_name_required')]"></q-input>
            <q-input dense outlined v-model.trim="form.location" :label="$t('satmachineadmin.ui_location')"
              maxlength="200"></q-input>
            <q-input dense outlined v-model.trim="form.fiat_code" :label="$t('satmachineadmin.ui_fiat_currency')"
              maxlength="3" :rules="[validFiatCode]"></q-input>
          </q-card-section>
          <q-card-actions align="right">
            <q-btn flat :label="$t('satmachineadmin.ui_cancel')" v-close-popup></q-btn>
            <q-btn unelevated color="primary" type="submit" :label="$t('satmachineadmin.ui_create_pairing_code')">
            </q-btn>
          </q-card-actions>
        </q-form>
        <template v-else>
          <q-card-section class="text-center">
            <div v-if="pairedMachine" class="text-positive text-h6">
              <span v-text="$t('satmachineadmin.pair_paired', {name: pairedMachine})"></span>
            </div>
            <template v-else>
              <div v-if="current.expected_npub" class="q-mb-sm" data-test="pair-waiting">
                <q-badge color="orange" text-color="black" v-text="$t('satmachineadmin.ui_waiting_for_the_machine_to_confirm')"></q-badge>
                <div class="text-caption q-mt-xs">
                  <span v-text="$t('satmachineadmin.ui_a_machine_s_npub_is_public_so_it_proves') + ' '"></span>
                  <strong v-text="shortNpub"></strong>
                  <span v-text="' ' + $t('satmachineadmin.ui_joins_your_account_only_when_it_scans_th')"></span>
                </div>
              </div>
              <div data-test="pair-qr" style="width: 260px; margin: 0 auto">
                <lnbits-qrcode :value="current.seed_url" :show-buttons="false">
                </lnbits-qrcode>
              </div>
              <div class="text-caption q-mt-sm">
                <span v-text="$t('satmachineadmin.ui_scan_this_with_the_machine_the_code_work') + ' '"></span>
                <strong data-test="pair-countdown" v-text="countdownText"></strong>.
              </div>
              <q-input class="q-mt-sm" dense outlined readonly
                :model-value="current.seed_url" data-test="pair-seed-url">
                <template v-slot:append>
                  <q-btn flat dense icon="content_copy" :aria-label="$t('satmachineadmin.ui_copy')"
                    @click="copyText(current.seed_url)"></q-btn>
                </template>
              </q-input>
            </template>
          </q-card-section>
          <q-card-actions align="right">
            <q-btn flat :label="$t('satmachineadmin.ui_close')" v-close-popup></q-btn>
          </q-card-actions>
        </template>
      </q-card>
    </q-dialog>
  `
})
