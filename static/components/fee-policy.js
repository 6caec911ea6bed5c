// The super user's rules for operators' fee schedules, as fields of the
// platform fee form (saved with it): the highest commission per direction
// (typed in percent, stored in basis points), what happens to a transaction
// whose fee is not its schedule's, and how long a replaced schedule still counts.
// v-model: the form's object; this group sets cash_out_max_commission_bps,
// cash_in_max_commission_bps, fee_enforcement and fee_grace_s in it.
;(() => {
  const TEXT = {
    title: "Operators' commission",
    caption:
      'Operators set their own fee schedules within these rules. You cannot ' +
      "lower a maximum below what an operator's schedule already charges.",
    max: direction => `Maximum ${direction.toLowerCase()} commission (%)`,
    maxHint: 'The most an operator may charge, e.g. 20',
    percentRule: 'A percent from 0 to 100, with at most two decimals',
    enforcement: 'When a machine charges a fee its schedule does not give',
    refuse: 'Refuse the transaction',
    refuseHint:
      'The machine is told the right fee and the customer is not charged a ' +
      'wrong one.',
    record: 'Let it through and record the difference',
    recordHint:
      'The transaction goes ahead with the fee the machine charged; it is ' +
      'listed under Fee mismatches.',
    grace: 'Grace period after a schedule changes (seconds)',
    graceHint:
      'A machine that has not fetched the new schedule yet may still charge ' +
      'the previous one for this long (0 to 86400)',
    graceRule: 'A whole number of seconds from 0 to 86400'
  }
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
          label: TEXT.max(SatmFees.TEXT[key])
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
