// A table of LP balance settlements: each one's status (with the payment's error
// when it failed), and Retry and Void for a failed one, which the page carries
// out. Used by the Needs attention and the Liquidity providers tabs.
//
//   <sm-balance-settlements :rows="..." :columns="balanceSettlementColumns"
//     :no-data-label="..." [compact] @retry="retryBalanceSettlement"
//     @void="voidBalanceSettlement"></sm-balance-settlements>
window.app.component('sm-balance-settlements', {
  props: {
    rows: {type: Array, required: true},
    columns: {type: Array, required: true},
    noDataLabel: {type: String, default: ''},
    // In a half-width card: the buttons show their icon only, as on a phone.
    compact: {type: Boolean, default: false}
  },
  emits: ['retry', 'void'],
  computed: {
    visibleColumns() {
      return window.SatMachine.visibleColumns(this.columns, this.$q.screen.width)
    },
    narrow() {
      // A phone: the buttons show their icon only (their name stays for
      // screen readers).
      return this.compact || this.$q.screen.lt.sm
    }
  },
  methods: {
    statusWord: window.SatMachine.statusWord,
    statusColor(status) {
      return window.SatMachine.statusColor(status === 'paid' ? 'settled' : status)
    }
  },
  template: `
    <q-table flat dense :rows="rows" row-key="id" :columns="columns"
      :visible-columns="visibleColumns" wrap-cells :no-data-label="noDataLabel">
      <template v-slot:body-cell-status="props">
        <q-td :props="props">
          <q-chip dense square text-color="white" :label="statusWord(props.row.status)"
            :color="statusColor(props.row.status)"></q-chip>
          <div class="text-caption sm-reason" v-if="props.row.last_error"
            v-text="props.row.last_error"></div>
        </q-td>
      </template>
      <template v-slot:body-cell-actions="props">
        <q-td :props="props" class="text-no-wrap">
          <template v-if="props.row.status === 'failed'">
            <q-btn icon="replay" dense flat
              :label="narrow ? void 0 : $t('satmachineadmin.ui_retry')"
              :aria-label="$t('satmachineadmin.ui_retry')"
              @click="$emit('retry', props.row)"></q-btn>
            <q-btn icon="block" dense flat
              :label="narrow ? void 0 : $t('satmachineadmin.ui_void')"
              :aria-label="$t('satmachineadmin.ui_void')"
              @click="$emit('void', props.row)"></q-btn>
          </template>
        </q-td>
      </template>
    </q-table>
  `
})
