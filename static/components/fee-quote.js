// An example transaction at one machine, priced by its current fee schedule:
// what the customer pays or receives, the fee, whether the amount is within the
// machine's limits, and how the commission then splits.
;(() => {
  const t = window.SatMachine.t
  const TEXT = window.SatMachine.texts({
    title: 'fq_title',
    caption: 'fq_caption',
    machine: 'col_machine',
    direction: 'col_direction',
    directions: {
      cash_out: 'fq_direction_cash_out',
      cash_in: 'fq_direction_cash_in'
    },
    amount: code => (code ? t('fq_amount_in', {code}) : t('col_amount')),
    rate: 'ui_rate_fiat_per_btc',
    chooseMachine: 'rule_choose_machine',
    amountRule: 'fq_amount_rule',
    rateRule: 'rule_rate',
    show: 'fq_show',
    customerPays: 'fq_customer_pays',
    customerReceives: 'fq_customer_receives',
    cashOut: ['fq_cash_out', 'amount', 'code'],
    cashIn: ['fq_cash_in', 'amount', 'code'],
    principal: 'fq_principal',
    fee: 'col_commission',
    version: ['fq_version', 'version'],
    limits: 'fq_limits',
    yes: 'fq_yes',
    no: 'fq_no',
    split: 'fq_split',
    platform: 'col_platform_fee',
    platformCaption: (percent, basis) =>
      t('ui_platform_caption', {percent: `${percent} %`, basis: window.SatMachine.word('basis', basis)}),
    operatorTotal: 'fq_operator_total',
    keptInMachine: 'fq_kept_in_machine'
  })

  window.app.component('satmachineadmin-fee-quote', {
    name: 'satmachineadmin-fee-quote',
    props: {
      machines: {type: Array, default: () => []}
    },
    data() {
      return {
        text: TEXT,
        form: {machine_id: null, direction: 'cash_out', fiat_amount: '', rate: ''},
        quote: null,
        error: '',
        busy: false
      }
    },
    computed: {
      directionOptions() {
        return ['cash_out', 'cash_in'].map(value => ({
          value,
          label: TEXT.directions[value]
        }))
      },
      machineOptions() {
        return this.machines.map(m => ({label: m.name, value: m.id}))
      },
      fiatCode() {
        const machine = this.machines.find(m => m.id === this.form.machine_id)
        return machine ? machine.fiat_code : null
      },
      operatorLegs() {
        return this.quote
          ? this.quote.split.legs.filter(leg => leg.kind === 'operator_split')
          : []
      },
      customerLabel() {
        if (!this.quote) return ''
        return this.quote.direction === 'cash_out'
          ? TEXT.customerPays
          : TEXT.customerReceives
      },
      cashText() {
        const q = this.quote
        if (!q) return ''
        const say = q.direction === 'cash_out' ? TEXT.cashOut : TEXT.cashIn
        return say(q.fiat_amount, q.fiat_code)
      }
    },
    watch: {
      // A refusal or a quote is about the inputs it was asked for: once they
      // change, neither is shown for the new ones.
      form: {
        deep: true,
        handler() {
          this.error = ''
          this.quote = null
        }
      },
      machineOptions: {
        immediate: true,
        handler(options) {
          if (!this.form.machine_id && options.length) {
            this.form.machine_id = options[0].value
          }
        }
      }
    },
    methods: {
      sats: SatmFees.sats,
      percent: SatmFees.percent,
      required(value) {
        return !!value || TEXT.chooseMachine
      },
      amountRule(value) {
        return SatmFees.DECIMAL.test(value || '') || TEXT.amountRule
      },
      rateRule(value) {
        return (SatmFees.DECIMAL.test(value || '') && Number(value) > 0) || TEXT.rateRule
      },
      // A rule pays one of the operator's wallets (named), or a Lightning address.
      legTarget(leg) {
        const own = (this.g.user ? this.g.user.wallets : []).find(
          wallet => wallet.id === leg.wallet_id
        )
        if (own) return own.name
        if (leg.ln_address) return leg.ln_address
        return leg.wallet_id ? '' : TEXT.keptInMachine
      },
      async show() {
        this.busy = true
        this.error = ''
        try {
          this.quote = await SatmFees.call(
            'POST',
            `/machines/${this.form.machine_id}/fees/quote`,
            {
              direction: this.form.direction,
              fiat_amount: this.form.fiat_amount,
              exchange_rate: this.form.rate
            }
          )
        } catch (error) {
          this.quote = null
          this.error = SatmFees.errorText(error)
        } finally {
          this.busy = false
        }
      }
    },
    template: `
      <q-card data-test="fee-quote">
        <q-card-section>
          <div class="text-h6" v-text="text.title"></div>
          <div class="text-caption" v-text="text.caption"></div>
        </q-card-section>
        <q-card-section class="q-pt-none">
          <q-form novalidate greedy @submit="show" class="row q-col-gutter-sm items-start">
            <q-select class="col-12 col-md-3" dense outlined emit-value map-options
              v-model="form.machine_id" :options="machineOptions" :label="text.machine"
              :rules="[required]" data-test="quote-machine"></q-select>
            <q-select class="col-12 col-md-3" dense outlined emit-value map-options
              v-model="form.direction" :options="directionOptions"
              :label="text.direction" data-test="quote-direction"></q-select>
            <q-input class="col-6 col-md-2" dense outlined v-model.trim="form.fiat_amount"
              :label="text.amount(fiatCode)" inputmode="decimal" :rules="[amountRule]"
              data-test="quote-amount"></q-input>
            <q-input class="col-6 col-md-2" dense outlined v-model.trim="form.rate"
              :label="text.rate" inputmode="decimal" :rules="[rateRule]"
              data-test="quote-rate"></q-input>
            <div class="col-12 col-md-2">
              <q-btn unelevated color="primary" type="submit" :label="text.show"
                :loading="busy" data-test="quote-show"></q-btn>
            </div>
          </q-form>
          <div v-if="error" class="text-negative q-mt-sm" role="alert"
            data-test="quote-error" v-text="error"></div>
        </q-card-section>
        <q-card-section v-if="quote" class="q-pt-none row q-col-gutter-md"
          data-test="quote-result">
          <div class="col-12 col-md-6">
            <q-list dense>
              <q-item>
                <q-item-section>
                  <q-item-label class="text-weight-bold" v-text="customerLabel">
                  </q-item-label>
                  <q-item-label caption v-text="cashText"></q-item-label>
                </q-item-section>
                <q-item-section side class="text-weight-bold" data-test="quote-customer"
                  v-text="sats(quote.customer_sats)"></q-item-section>
              </q-item>
              <q-item>
                <q-item-section v-text="text.principal"></q-item-section>
                <q-item-section side data-test="quote-principal"
                  v-text="sats(quote.principal_sats)"></q-item-section>
              </q-item>
              <q-item>
                <q-item-section>
                  <q-item-label v-text="text.fee"></q-item-label>
                  <q-item-label caption v-text="text.version(quote.fee_version)">
                  </q-item-label>
                </q-item-section>
                <q-item-section side data-test="quote-fee"
                  v-text="sats(quote.fee_sats)"></q-item-section>
              </q-item>
              <q-item>
                <q-item-section v-text="text.limits"></q-item-section>
                <q-item-section side data-test="quote-limits"
                  :class="quote.within_limits ? 'text-positive' : 'text-negative'"
                  v-text="quote.within_limits ? text.yes : text.no"></q-item-section>
              </q-item>
            </q-list>
          </div>
          <div class="col-12 col-md-6" data-test="quote-split">
            <div class="text-subtitle2" v-text="text.split"></div>
            <q-list dense>
              <q-item>
                <q-item-section>
                  <q-item-label v-text="text.platform"></q-item-label>
                  <q-item-label caption
                    v-text="text.platformCaption(percent(quote.split.fee_bps), quote.split.fee_basis)">
                  </q-item-label>
                </q-item-section>
                <q-item-section side data-test="quote-platform"
                  v-text="sats(quote.split.platform_fee_sats)"></q-item-section>
              </q-item>
              <q-separator></q-separator>
              <q-item v-for="(leg, i) in operatorLegs" :key="i" data-test="quote-leg">
                <q-item-section>
                  <q-item-label v-text="leg.label"></q-item-label>
                  <q-item-label caption v-text="legTarget(leg)"></q-item-label>
                </q-item-section>
                <q-item-section side v-text="sats(leg.sats)"></q-item-section>
              </q-item>
              <q-item>
                <q-item-section class="text-weight-bold" v-text="text.operatorTotal">
                </q-item-section>
                <q-item-section side class="text-weight-bold" data-test="quote-operator"
                  v-text="sats(quote.split.operator_fee_sats)"></q-item-section>
              </q-item>
            </q-list>
          </div>
        </q-card-section>
      </q-card>
    `
  })
})()
