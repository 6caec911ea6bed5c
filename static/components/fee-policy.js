// The super user's rules for operators' fee schedules, as fields of the
// platform fee form (saved with it): the highest commission per direction
// (typed in percent, stored in basis points), what happens to a transaction
// whose fee is not its schedule's, and how long a replaced schedule still counts.
// v-model: the form's object; this group sets cash_out_max_commission_bps,
// cash_in_max_commission_bps, fee_enforcement and fee_grace_s in it.
;(() => {
  const TEXT = window.SatMachine.texts({
    title: 'fp_title',
    caption: 'fp_caption',
    max: direction =>
      window.SatMachine.t(direction === 'cash_in' ? 'fp_max_cash_in' : 'fp_max_cash_out'),
    maxHint: 'fp_max_hint',
    percentRule: 'rule_percent',
    enforcement: 'fp_enforcement',
    refuse: 'fp_refuse',
    refuseHint: 'fp_refuse_hint',
    record: 'fp_record',
    recordHint: 'fp_record_hint',
    grace: 'fp_grace',
    graceHint: 'fp_grace_hint',
    graceRule: 'fp_grace_rule'
  })
  const GRACE_MAX = 86400
  const KEYS = {
    cash_out: 'cash_out_max_commission_bps',
    cash_in: 'cash_in_max_commission_bps'
  }

  window.app.component('satmachineadmin-fee-policy', {
    name: 'satmachineadmin-fee-policy',
    props: {
      modelValue: {type: Object, required: true}
    },
    emits: ['update:modelValue'],
    data() {
      return {
        text: TEXT,
        percents: this.percentsOf(this.modelValue),
        directions: SatmFees.DIRECTIONS.map(key => ({
          key,
          label: TEXT.max(key)
        })),
        enforcementOptions: ['refuse', 'record'].map(value => ({
          value,
          label: TEXT[value],
          hint: TEXT[`${value}Hint`]
        }))
      }
    },
    watch: {
      modelValue(value) {
        // The saved config comes back: show it, unless it is what is typed.
        for (const direction of SatmFees.DIRECTIONS) {
          if (SatmFees.toBps(this.percents[direction]) !== value[KEYS[direction]]) {
            this.percents[direction] = SatmFees.percent(value[KEYS[direction]])
          }
        }
      }
    },
    methods: {
      percentsOf(value) {
        return Object.fromEntries(
          SatmFees.DIRECTIONS.map(d => [d, SatmFees.percent(value[KEYS[d]])])
        )
      },
      set(key, value) {
        this.$emit('update:modelValue', {...this.modelValue, [key]: value})
      },
      setPercent(direction, text) {
        this.percents[direction] = text
        const bps = SatmFees.toBps(text)
        if (bps !== null) this.set(KEYS[direction], bps)
      },
      percentRule(value) {
        return SatmFees.toBps(value) !== null || TEXT.percentRule
      },
      graceRule(value) {
        return (
          (Number.isInteger(value) && value >= 0 && value <= GRACE_MAX) ||
          TEXT.graceRule
        )
      }
    },
    template: `
      <div class="q-gutter-y-sm" data-testid="fee-policy">
        <q-separator class="q-my-sm"></q-separator>
        <div class="text-subtitle2" v-text="text.title"></div>
        <div class="text-caption" v-text="text.caption"></div>
        <div class="row q-col-gutter-sm">
          <div v-for="direction in directions" :key="direction.key" class="col-6">
            <q-input filled dense :model-value="percents[direction.key]"
              @update:model-value="setPercent(direction.key, $event)" suffix="%"
              inputmode="decimal" :label="direction.label" :hint="text.maxHint"
              :rules="[percentRule]"></q-input>
          </div>
        </div>
        <div class="text-body2 q-mt-md" v-text="text.enforcement"></div>
        <q-list dense>
          <q-item v-for="option in enforcementOptions" :key="option.value" tag="label">
            <q-item-section avatar>
              <q-radio dense :model-value="modelValue.fee_enforcement"
                :val="option.value" @update:model-value="set('fee_enforcement', $event)"
                :data-testid="'fee-enforcement-' + option.value"></q-radio>
            </q-item-section>
            <q-item-section>
              <q-item-label v-text="option.label"></q-item-label>
              <q-item-label caption v-text="option.hint"></q-item-label>
            </q-item-section>
          </q-item>
        </q-list>
        <q-input filled dense type="number" min="0" :max="86400" step="1"
          :model-value="modelValue.fee_grace_s"
          @update:model-value="set('fee_grace_s', $event === '' ? $event : Number($event))"
          :label="text.grace" :hint="text.graceHint" :rules="[graceRule]"></q-input>
      </div>
    `
  })
})()
