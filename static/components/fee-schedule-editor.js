// A fee schedule's form, both directions: commission in percent (sent as basis
// points), fixed fee in sats, fiat limits per transaction (blank: no bound). It
// saves itself with PUT <path> and emits `saved` with the API's answer; a refusal
// is shown next to the form.
;(() => {
  const t = window.SatMachine.t
  const TEXT = window.SatMachine.texts({
    commission: 'fe_commission',
    commissionHint: 'fe_commission_hint',
    commissionCap: bps => t('fe_commission_cap', {percent: SatmFees.percent(bps)}),
    commissionRule: 'rule_percent',
    aboveCap: bps => t('fe_above_cap', {percent: SatmFees.percent(bps)}),
    fixed: 'fe_fixed',
    fixedHint: 'fe_fixed_hint',
    fixedRule: 'rule_whole_sats',
    fixedCap: () => t('fe_fixed_cap', {sats: SatmFees.sats(SatmFees.MAX_FIXED_FEE_SATS)}),
    min: code => (code ? t('fe_min_in', {code}) : t('fe_min')),
    max: code => (code ? t('fe_max_in', {code}) : t('fe_max')),
    limitHint: 'fe_limit_hint',
    limitRule: 'fe_limit_rule',
    minAboveMax: 'fe_min_above_max',
    save: 'ui_save_schedule',
    cancel: 'ui_cancel'
  })
  const DIRECTION_HINT = window.SatMachine.texts({
    cash_out: 'fe_hint_cash_out',
    cash_in: 'fe_hint_cash_in'
  })

  function draftOf(schedule) {
    const source = schedule || SatmFees.BUILTIN
    const draft = {}
    for (const direction of SatmFees.DIRECTIONS) {
      const fees = source[direction] || SatmFees.BUILTIN[direction]
      draft[direction] = {
        percent: SatmFees.percent(fees.commission_bps),
        fixed: fees.fixed_fee_sats,
        min: fees.min_fiat === null ? '' : fees.min_fiat,
        max: fees.max_fiat === null ? '' : fees.max_fiat
      }
    }
    return draft
  }

  const blankOr = value => {
    const text = String(value === null || value === undefined ? '' : value).trim()
    return text === '' ? null : text
  }

  window.app.component('satmachineadmin-fee-schedule-editor', {
    name: 'satmachineadmin-fee-schedule-editor',
    props: {
      schedule: {type: Object, default: null},
      path: {type: String, required: true},
      maxBps: {type: Object, default: null},
      fiatCode: {type: String, default: null},
      cancellable: {type: Boolean, default: false}
    },
    emits: ['saved', 'cancel'],
    data() {
      return {
        draft: draftOf(this.schedule),
        saving: false,
        error: '',
        text: TEXT,
        directions: SatmFees.DIRECTIONS.map(key => ({
          key,
          label: SatmFees.TEXT[key],
          hint: DIRECTION_HINT[key]
        }))
      }
    },
    watch: {
      schedule(next, previous) {
        // A reload that brings the same schedule back (Refresh, a notice) must
        // leave what is being typed alone; only a changed schedule resets the form.
        const same = JSON.stringify(draftOf(next)) === JSON.stringify(draftOf(previous))
        if (same) return
        this.draft = draftOf(next)
        this.error = ''
      }
    },
    methods: {
      cap(direction) {
        return this.maxBps ? this.maxBps[direction] : null
      },
      commissionHint(direction) {
        const cap = this.cap(direction)
        return Number.isInteger(cap) ? TEXT.commissionCap(cap) : TEXT.commissionHint
      },
      commissionRule(direction) {
        return value => {
          const bps = SatmFees.toBps(value)
          if (bps === null) return TEXT.commissionRule
          const cap = this.cap(direction)
          return !Number.isInteger(cap) || bps <= cap || TEXT.aboveCap(cap)
        }
      },
      fixedRule(value) {
        if (!Number.isInteger(value) || value < 0) return TEXT.fixedRule
        return value <= SatmFees.MAX_FIXED_FEE_SATS || TEXT.fixedCap()
      },
      limitRule(value) {
        const text = blankOr(value)
        return text === null || SatmFees.DECIMAL.test(text) || TEXT.limitRule
      },
      maxRule(direction) {
        return value => {
          const low = blankOr(this.draft[direction].min)
          const high = blankOr(value)
          if (low === null || high === null) return true
          if (!SatmFees.DECIMAL.test(low) || !SatmFees.DECIMAL.test(high)) return true
          return Number(low) <= Number(high) || TEXT.minAboveMax
        }
      },
      body() {
        const body = {}
        for (const direction of SatmFees.DIRECTIONS) {
          const d = this.draft[direction]
          body[direction] = {
            commission_bps: SatmFees.toBps(d.percent),
            fixed_fee_sats: d.fixed,
            min_fiat: blankOr(d.min),
            max_fiat: blankOr(d.max)
          }
        }
        return body
      },
      async save() {
        this.saving = true
        this.error = ''
        try {
          this.$emit('saved', await SatmFees.call('PUT', this.path, this.body()))
        } catch (error) {
          this.error = SatmFees.errorText(error)
        } finally {
          this.saving = false
        }
      }
    },
    template: `
      <q-form novalidate greedy @submit="save" data-test="fee-editor">
        <div class="row q-col-gutter-md">
          <div v-for="direction in directions" :key="direction.key"
            class="col-12 col-md-6 q-gutter-y-xs" :data-test="'fee-' + direction.key">
            <div class="text-subtitle2" v-text="direction.label"></div>
            <div class="text-caption text-grey-7" v-text="direction.hint"></div>
            <q-input dense outlined v-model.trim="draft[direction.key].percent"
              :label="text.commission" suffix="%" inputmode="decimal"
              :hint="commissionHint(direction.key)"
              :rules="[commissionRule(direction.key)]"></q-input>
            <q-input dense outlined type="number" min="0" step="1"
              v-model.number="draft[direction.key].fixed" :label="text.fixed"
              :hint="text.fixedHint" :rules="[fixedRule]"></q-input>
            <div class="row q-col-gutter-sm">
              <q-input class="col-6" dense outlined v-model.trim="draft[direction.key].min"
                :label="text.min(fiatCode)" :hint="text.limitHint"
                inputmode="decimal" :rules="[limitRule]"></q-input>
              <q-input class="col-6" dense outlined v-model.trim="draft[direction.key].max"
                :label="text.max(fiatCode)" :hint="text.limitHint"
                inputmode="decimal" :rules="[limitRule, maxRule(direction.key)]">
              </q-input>
            </div>
          </div>
        </div>
        <div class="row items-center q-mt-md q-gutter-sm">
          <div class="col text-negative" data-test="fee-error" role="alert"
            v-if="error" v-text="error"></div>
          <div class="col" v-else></div>
          <q-btn v-if="cancellable" flat :label="text.cancel" @click="$emit('cancel')">
          </q-btn>
          <q-btn unelevated color="primary" type="submit" :label="text.save"
            :loading="saving" data-test="fee-save"></q-btn>
        </div>
      </q-form>
    `
  })
})()
