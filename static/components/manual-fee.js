// The commission of a transaction recorded by hand. By default the machine's fee
// schedule prices it (the server does: the fee shown here is only a preview);
// the operator may give another fee, with the reason, which is recorded. Until
// the machine's schedule is loaded (or if it cannot be), the fee is asked for and
// the server judges it. v-model: the body's fee fields, {fee_sats,
// fee_override_reason}.
;(() => {
  const TEXT = window.SatMachine.texts({
    fromSchedule: 'mf_from_schedule',
    bySchedule: ['mf_by_schedule', 'version', 'fee'],
    enterPrincipal: ['mf_enter_principal', 'version'],
    wouldBe: ['mf_would_be', 'fee'],
    fee: 'mf_fee',
    feeRule: 'rule_whole_sats',
    reason: 'mf_reason',
    reasonRule: 'mf_reason_rule'
  })

  window.app.component('satmachineadmin-manual-fee', {
    name: 'satmachineadmin-manual-fee',
    inheritAttrs: false,
    props: {
      modelValue: {type: Object, default: () => ({})},
      machineId: {type: String, default: null},
      direction: {type: String, default: 'cash_out'},
      principalSats: {type: [Number, String], default: null}
    },
    emits: ['update:modelValue'],
    data() {
      return {
        text: TEXT,
        fees: null,
        fromSchedule: false,
        feeSats: this.modelValue.fee_sats ?? null,
        reason: this.modelValue.fee_override_reason || ''
      }
    },
    computed: {
      // Null until the server says: a machine without a version is not priced.
      schedule() {
        const fees = this.fees
        return fees && fees.version && fees.schedule ? fees.schedule : null
      },
      scheduleFee() {
        const principal = this.principalSats
        const whole = Number.isInteger(principal) && principal >= 0
        if (!this.schedule || !whole || principal > SatmFees.MAX_SATS) {
          return null
        }
        return SatmFees.scheduleFee(principal, this.schedule[this.direction])
      },
      summary() {
        if (!this.schedule) return ''
        const version = this.fees.version
        if (this.scheduleFee === null) return TEXT.enterPrincipal(version)
        return TEXT.bySchedule(version, SatmFees.sats(this.scheduleFee))
      },
      feeHint() {
        if (!this.overriding || this.scheduleFee === null) return ''
        return TEXT.wouldBe(SatmFees.sats(this.scheduleFee))
      },
      overriding() {
        return !!this.schedule && !this.fromSchedule
      },
      body() {
        const priced = !!this.schedule && this.fromSchedule
        return {
          fee_sats: priced ? null : this.feeSats,
          fee_override_reason: this.overriding ? this.reason.trim() || null : null
        }
      }
    },
    watch: {
      machineId: {
        immediate: true,
        handler() {
          this.load()
        }
      },
      body: {
        immediate: true,
        handler(value) {
          this.$emit('update:modelValue', value)
        }
      }
    },
    methods: {
      feeRule(value) {
        return (Number.isInteger(value) && value >= 0) || TEXT.feeRule
      },
      reasonRule(value) {
        return !!(value && value.trim()) || TEXT.reasonRule
      },
      async load() {
        const id = this.machineId
        this.fees = null
        if (!id) return
        try {
          const fees = await SatmFees.call('GET', `/machines/${id}/fees`)
          if (id !== this.machineId) return
          this.fees = fees
          this.fromSchedule = !!this.schedule
        } catch (error) {
          // The fee is then given by hand; the server prices or refuses it.
          console.warn('satmachineadmin: fee schedule not loaded', error)
        }
      }
    },
    // Cells of the dialog's grid (a row with q-col-gutter), not one block.
    template: `
      <div class="col-6">
        <template v-if="schedule">
          <q-toggle dense v-model="fromSchedule" :label="text.fromSchedule"
            data-test="manual-fee-from-schedule"></q-toggle>
          <div v-if="fromSchedule" class="text-caption q-mt-xs"
            data-test="manual-fee-schedule" v-text="summary"></div>
        </template>
        <q-input v-else dense outlined type="number" min="0"
          v-model.number="feeSats" :label="text.fee" :rules="[feeRule]"
          data-test="manual-fee"></q-input>
      </div>
      <template v-if="overriding">
        <q-input class="col-4" dense outlined type="number" min="0"
          v-model.number="feeSats" :label="text.fee" :rules="[feeRule]"
          :hint="feeHint" data-test="manual-fee"></q-input>
        <q-input class="col-8" dense outlined v-model="reason" maxlength="500"
          :label="text.reason" :rules="[reasonRule]"
          data-test="manual-fee-reason"></q-input>
      </template>
    `
  })
})()
