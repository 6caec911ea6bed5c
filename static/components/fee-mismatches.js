// The super user's list of settlements, of every operator, whose fee was not
// their machine's schedule's: let through in record mode, or recorded by hand
// by an operator with a reason.
;(() => {
  const TEXT = window.SatMachine.texts({
    title: 'fm_title',
    caption: 'fm_caption',
    refresh: 'fm_refresh',
    none: 'fm_none',
    removed: 'fm_removed',
    columns: {
      when: 'col_when',
      operator: 'fm_operator',
      machine: 'col_machine',
      direction: 'col_direction',
      tx: 'col_transaction',
      version: 'fm_version',
      commission: 'fm_commission',
      difference: 'fm_difference'
    }
  })
  const signed = value => (value > 0 ? `+${SatmFees.sats(value)}` : SatmFees.sats(value))

  window.app.component('satmachineadmin-fee-mismatches', {
    name: 'satmachineadmin-fee-mismatches',
    data() {
      const c = TEXT.columns
      return {
        text: TEXT,
        rows: [],
        error: '',
        loading: false,
        columns: [
          {name: 'when', label: c.when, field: r => SatmFees.when(r.created_at), align: 'left'},
          {name: 'operator', label: c.operator, field: 'operator_id', align: 'left'},
          {name: 'machine', label: c.machine, field: 'machine_id', align: 'left'},
          {
            name: 'direction',
            label: c.direction,
            field: r => SatmFees.TEXT[r.direction] || r.direction,
            align: 'left'
          },
          {name: 'tx', label: c.tx, field: 'tx_id', align: 'left'},
          {name: 'version', label: c.version, field: r => r.fee_version ?? '—'},
          {name: 'commission', label: c.commission, field: r => SatmFees.sats(r.commission_sats)},
          {name: 'difference', label: c.difference, field: r => signed(r.fee_mismatch_sats)}
        ]
      }
    },
    computed: {
      // A phone keeps what tells a mismatch apart: when, where and by how much.
      visibleColumns() {
        const all = this.columns.map(c => c.name)
        return this.$q.screen.lt.sm ? ['when', 'machine', 'difference'] : all
      }
    },
    methods: {
      // By name; the id stays in the tooltip.
      machineName(row) {
        return row.machine_name || TEXT.removed
      },
      async load() {
        this.loading = true
        try {
          this.rows = await SatmFees.call('GET', '/super/fee-mismatches')
          this.error = ''
        } catch (error) {
          this.error = SatmFees.errorText(error)
        } finally {
          this.loading = false
        }
      }
    },
    created() {
      this.load()
    },
    template: `
      <q-card>
        <q-card-section class="row items-center">
          <div class="col">
            <h6 class="q-my-none" v-text="text.title"></h6>
            <div class="text-caption" v-text="text.caption"></div>
          </div>
          <q-btn flat dense round icon="refresh" :aria-label="text.refresh"
            @click="load"></q-btn>
        </q-card-section>
        <q-card-section v-if="error" class="q-pt-none text-negative" role="alert"
          v-text="error"></q-card-section>
        <q-card-section class="q-pt-none">
          <q-table dense flat data-testid="fee-mismatches" :rows="rows"
            row-key="settlement_id" :columns="columns" :loading="loading"
            :visible-columns="visibleColumns" wrap-cells
            :no-data-label="text.none">
            <template v-slot:body-cell-operator="props">
              <q-td :props="props">
                <span v-text="props.row.operator_name"></span>
                <q-tooltip v-text="props.row.operator_id"></q-tooltip>
              </q-td>
            </template>
            <template v-slot:body-cell-machine="props">
              <q-td :props="props">
                <span v-text="machineName(props.row)"></span>
                <q-tooltip v-text="props.row.machine_id"></q-tooltip>
              </q-td>
            </template>
          </q-table>
        </q-card-section>
      </q-card>
    `
  })
})()
