// The operator's split rules: an editor of labelled targets (a wallet of theirs or
// a Lightning address) and weights, with a live preview of the two-stage split of
// an example commission. It saves through the API and hands the saved rules back.
//
// ``rules`` is null until they have loaded: nothing can be added or saved before
// then, or the rules arriving would replace what was typed.
//
//   <sm-split-editor :rules="rules" :wallet-options="walletOptions"
//     :direction-options="directionOptions" @saved="rules = $event">
//   </sm-split-editor>
(() => {
  let ruleKey = 0
  function ruleDraft(rule) {
    return {
      key: ++ruleKey,
      label: rule.label || '',
      targetKind: rule.ln_address ? 'address' : 'wallet',
      wallet_id: rule.wallet_id || null,
      ln_address: rule.ln_address || '',
      percent: rule.weight_bps === undefined ? 0 : rule.weight_bps / 100
    }
  }

  window.app.component('sm-split-editor', {
    props: {
      rules: {type: Array, default: null},
      walletOptions: {type: Array, default: () => []},
      directionOptions: {type: Array, default: () => []}
    },
    emits: ['saved'],
    data() {
      return {
        ruleDrafts: [],
        preview: null,
        previewError: '',
        previewCommission: 100,
        previewDirection: 'cash_out'
      }
    },
    computed: {
      loaded() {
        return this.rules !== null
      },
      weightsTotal() {
        return this.ruleDrafts.reduce((sum, rule) => sum + (Number(rule.percent) || 0), 0)
      },
      weightsOk() {
        return !this.ruleDrafts.length || Math.round(this.weightsTotal * 100) === 10000
      },
      rulesProblem() {
        const t = (key, values) => this.$t(`satmachineadmin.${key}`, values || {})
        for (const rule of this.ruleDrafts) {
          if (!rule.label) return t('split_needs_label')
          if (rule.targetKind === 'wallet' && !rule.wallet_id) {
            return t('split_needs_wallet', {label: rule.label})
          }
          if (rule.targetKind === 'address' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(rule.ln_address)) {
            return t('split_needs_address', {label: rule.label})
          }
          const bps = Math.round(Number(rule.percent) * 100)
          if (!(bps > 0) || bps > 10000 || Math.abs(bps - Number(rule.percent) * 100) > 1e-6) {
            return t('split_bad_weight', {label: rule.label})
          }
        }
        if (!this.weightsOk) {
          return t('split_weights_total', {total: this.weightsTotal.toFixed(2)})
        }
        return ''
      },
      draftRulesBody() {
        return this.ruleDrafts.map(rule => ({
          label: rule.label,
          weight_bps: Math.round(Number(rule.percent) * 100),
          ...(rule.targetKind === 'wallet'
            ? {wallet_id: rule.wallet_id}
            : {ln_address: rule.ln_address})
        }))
      },
      previewOperatorLegs() {
        return this.preview
          ? this.preview.legs.filter(leg => leg.kind === 'operator_split')
          : []
      }
    },
    watch: {
      rules: {
        immediate: true,
        handler() {
          this.resetRules()
        }
      },
      ruleDrafts: {
        deep: true,
        handler() {
          this.schedulePreview()
        }
      },
      previewCommission() {
        this.schedulePreview()
      },
      previewDirection() {
        this.schedulePreview()
      }
    },
    methods: {
      sats: value => window.SatMachine.format.sats(value),
      percent(bps) {
        return bps === undefined || bps === null ? '' : `${(bps / 100).toFixed(2)} %`
      },
      resetRules() {
        this.ruleDrafts = (this.rules || []).map(ruleDraft)
      },
      addRule() {
        const left = Math.max(0, 100 - this.weightsTotal)
        this.ruleDrafts.push(ruleDraft({weight_bps: Math.round(left * 100)}))
      },
      schedulePreview() {
        clearTimeout(this.previewTimer)
        this.previewTimer = setTimeout(() => this.loadPreview(), 250)
      },
      async loadPreview() {
        const commission = this.previewCommission
        if (!Number.isInteger(commission) || commission < 0) {
          this.preview = null
          this.previewError = this.$t('satmachineadmin.split_preview_whole')
          return
        }
        if (this.rulesProblem) {
          this.preview = null
          this.previewError = this.rulesProblem
          return
        }
        try {
          this.preview = await window.SatMachine.call('POST', '/splits/preview', {
            commission_sats: commission,
            direction: this.previewDirection,
            rules: this.draftRulesBody
          })
          this.previewError = ''
        } catch (error) {
          this.preview = null
          this.previewError = window.SatMachine.errorMessage(error)
        }
      },
      async saveRules() {
        if (this.rulesProblem) {
          window.SatMachine.notify.problem(this.rulesProblem)
          return
        }
        try {
          const saved = await window.SatMachine.call('PUT', '/splits', {
            rules: this.draftRulesBody
          })
          this.$emit('saved', saved.rules)
          window.SatMachine.notify.done(this.$t('satmachineadmin.done_split_rules_saved'))
        } catch (error) {
          window.SatMachine.notify.error(error)
        }
      }
    },
    template: `
      <div class="row q-col-gutter-md">
        <div class="col-12 col-md-7">
          <q-card data-test="split-rules">
            <q-inner-loading :showing="!loaded"></q-inner-loading>
            <q-card-section>
              <div class="text-h6" v-text="$t('satmachineadmin.ui_your_split_rules')"></div>
              <div class="text-caption" v-text="$t('satmachineadmin.ui_what_remains_of_each_commission_after_th')"></div>
            </q-card-section>
            <q-card-section class="q-gutter-y-sm">
              <div class="row q-col-gutter-sm items-start" v-for="(rule, i) in ruleDrafts"
                :key="rule.key" data-test="split-rule">
                <q-input class="col-12 col-sm-6 col-lg-3" dense outlined v-model.trim="rule.label"
                  :label="$t('satmachineadmin.ui_label')" maxlength="64"></q-input>
                <q-select class="col-12 col-sm-6 col-lg-3" dense outlined v-model="rule.targetKind" emit-value
                  :label="$t('satmachineadmin.ui_pays_to')" hide-dropdown-icon
                  map-options :options="[{label: $t('satmachineadmin.ui_wallet'), value: 'wallet'},
                    {label: $t('satmachineadmin.split_ln_address'), value: 'address'}]"></q-select>
                <q-select v-if="rule.targetKind === 'wallet'" class="col-12 col-sm-6 col-lg-3" dense outlined
                  v-model="rule.wallet_id" :options="walletOptions" emit-value map-options
                  :label="$t('satmachineadmin.ui_wallet')"></q-select>
                <q-input v-else class="col-12 col-sm-6 col-lg-3" dense outlined v-model.trim="rule.ln_address"
                  :label="$t('satmachineadmin.ui_name_domain')"></q-input>
                <q-input class="col col-lg-2" dense outlined type="number" min="0" max="100"
                  step="0.01" v-model.number="rule.percent" suffix="%"
                  :label="$t('satmachineadmin.ui_weight')"></q-input>
                <div class="col-auto">
                  <q-btn flat round dense icon="close" :aria-label="$t('satmachineadmin.ui_remove_rule')"
                    @click="ruleDrafts.splice(i, 1)">
                  </q-btn>
                </div>
              </div>
              <div class="row items-center q-gutter-sm">
                <q-btn flat icon="add" :label="$t('satmachineadmin.ui_add_rule')" data-test="add-rule"
                  :disable="!loaded" @click="addRule"></q-btn>
                <div class="col"></div>
                <div data-test="weights-sum"
                  :class="weightsOk ? 'text-positive' : 'text-negative'">
                  <span v-text="$t('satmachineadmin.split_total', {total: weightsTotal.toFixed(2)})"></span>
                </div>
              </div>
              <div class="text-negative text-caption" v-if="rulesProblem"
                data-test="rules-problem" v-text="rulesProblem"></div>
            </q-card-section>
            <q-card-actions align="right">
              <q-btn flat :label="$t('satmachineadmin.ui_discard_changes')" :disable="!loaded"
                @click="resetRules"></q-btn>
              <q-btn unelevated color="primary" :label="$t('satmachineadmin.ui_save_rules')" data-test="save-rules"
                :disable="!loaded || !!rulesProblem" @click="saveRules"></q-btn>
            </q-card-actions>
          </q-card>
        </div>
        <div class="col-12 col-md-5">
          <q-card data-test="split-preview">
            <q-card-section>
              <div class="text-h6" v-text="$t('satmachineadmin.ui_preview')"></div>
              <div class="row q-col-gutter-sm">
                <q-input class="col-6" dense outlined type="number" min="0"
                  v-model.number="previewCommission" :label="$t('satmachineadmin.ui_example_commission_sats')"
                  data-test="preview-commission"></q-input>
                <q-select class="col-6" dense outlined v-model="previewDirection"
                  emit-value map-options :options="directionOptions"></q-select>
              </div>
            </q-card-section>
            <q-card-section v-if="preview">
              <q-list dense>
                <q-item>
                  <q-item-section>
                    <q-item-label v-text="$t('satmachineadmin.col_platform_fee')"></q-item-label>
                    <q-item-label caption>
                      <span v-text="$t('satmachineadmin.ui_platform_caption', {percent: percent(preview.fee_bps), basis: $t('satmachineadmin.basis_' + preview.fee_basis)})"></span>
                    </q-item-label>
                  </q-item-section>
                  <q-item-section side data-test="preview-platform"
                    v-text="sats(preview.platform_fee_sats)"></q-item-section>
                </q-item>
                <q-separator></q-separator>
                <q-item v-for="leg in previewOperatorLegs" :key="leg.label + leg.sats"
                  data-test="preview-leg">
                  <q-item-section v-text="leg.label"></q-item-section>
                  <q-item-section side v-text="sats(leg.sats)"></q-item-section>
                </q-item>
                <q-item>
                  <q-item-section class="text-weight-bold" v-text="$t('satmachineadmin.ui_operator_total')"></q-item-section>
                  <q-item-section side class="text-weight-bold"
                    v-text="sats(preview.operator_fee_sats)"></q-item-section>
                </q-item>
              </q-list>
            </q-card-section>
            <q-card-section v-else-if="previewError" class="text-negative text-caption"
              v-text="previewError"></q-card-section>
          </q-card>
        </div>
      </div>
    `
  })
})()
