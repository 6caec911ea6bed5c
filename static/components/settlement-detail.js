// The settlement detail dialog: what was settled, its payout legs (whom each
// pays, by name) and a retry of its failed payouts, which the page carries out.
//
//   <sm-settlement-detail v-model="detail.show" :settlement="detail.settlement"
//     :machine-name="..." :leg-columns="legColumns" @retry="retrySettlement">
//   </sm-settlement-detail>
window.app.component('sm-settlement-detail', {
  props: {
    modelValue: {type: Boolean, default: false},
    settlement: {type: Object, default: null},
    machineName: {type: String, default: ''},
    legColumns: {type: Array, required: true}
  },
  emits: ['update:modelValue', 'retry'],
  computed: {
    progress() {
      return window.SatMachine.progress(this.settlement)
    },
    visibleLegColumns() {
      return window.SatMachine.visibleColumns(this.legColumns, this.$q.screen.width)
    },
    facts() {
      const s = this.settlement
      if (!s) return []
      const {format: fmt, t, word} = window.SatMachine
      const feePercent = `${(s.fee_bps / 100).toFixed(2)} %`
      return [
        {label: t('col_when'), value: fmt.when(s.created_at)},
        {label: t('col_machine'), value: this.machineName},
        {label: t('col_direction'), value: fmt.direction(s.direction)},
        {label: t('detail_source'), value: word('source', s.source)},
        {
          label: t('col_fiat'),
          value: t('detail_fiat_at_rate', {
            fiat: fmt.fiat(s.fiat_amount, s.fiat_code),
            rate: fmt.rate(s.exchange_rate)
          })
        },
        {label: t('col_volume'), value: fmt.sats(s.gross_sats)},
        {label: t('detail_principal'), value: fmt.sats(s.principal_sats)},
        {label: t('col_commission'), value: fmt.sats(s.commission_sats)},
        {
          label: t('col_platform_fee'),
          value: t('detail_platform_fee', {
            sats: fmt.sats(s.platform_fee_sats),
            fee: t('fee_of_basis', {percent: feePercent, basis: word('basis', s.fee_basis)})
          })
        },
        {label: t('col_operator_fee'), value: fmt.sats(s.operator_fee_sats)},
        {label: t('col_to_lps'), value: fmt.sats(s.lp_allocated_sats)},
        {label: t('detail_payment_hash'), value: s.payment_hash || '—'},
        {label: t('col_note'), value: s.note || '—'}
      ]
    }
  },
  template: `
    <q-dialog :model-value="modelValue"
      @update:model-value="value => $emit('update:modelValue', value)">
      <q-card style="width: 900px; max-width: 95vw" data-test="settlement-detail">
        <q-card-section class="row items-center" v-if="settlement">
          <div class="text-h6 col">
            <span v-text="$t('satmachineadmin.detail_title', {tx: settlement.tx_id})"></span>
          </div>
          <q-chip dense square :color="progress.color" text-color="white"
            data-test="detail-progress">
            <span v-text="progress.text"></span>
            <q-tooltip v-if="settlement.failure" v-text="settlement.failure"></q-tooltip>
          </q-chip>
        </q-card-section>
        <q-card-section v-if="settlement" class="row q-col-gutter-sm text-caption">
          <div class="col-6 col-md-3" v-for="item in facts" :key="item.label">
            <div class="text-grey-7" v-text="item.label"></div>
            <div class="text-body2" v-text="item.value"></div>
          </div>
        </q-card-section>
        <q-table v-if="settlement" flat dense :rows="settlement.legs || []"
          row-key="id" :columns="legColumns" :visible-columns="visibleLegColumns"
          wrap-cells :pagination="{rowsPerPage: 0}" hide-pagination
          data-test="legs-table"></q-table>
        <q-card-actions align="right">
          <q-btn v-if="settlement && settlement.status === 'failed'" unelevated
            color="primary" :label="$t('satmachineadmin.ui_retry_failed_payouts')"
            @click="$emit('retry', settlement)"></q-btn>
          <q-btn flat :label="$t('satmachineadmin.ui_close')" v-close-popup></q-btn>
        </q-card-actions>
      </q-card>
    </q-dialog>
  `
})
