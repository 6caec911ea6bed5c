// The operator's fee schedules: the default every machine uses, and per machine
// its effective schedule, where it comes from, its version and whether the
// machine has fetched it; a machine's own schedule is edited or cleared here.
;(() => {
  const t = window.SatMachine.t
  const TEXT = window.SatMachine.texts({
    defaultTitle: 'fs_default_title',
    defaultCaption: 'fs_default_caption',
    builtinNotice: 'fs_builtin_notice',
    saved: 'fs_saved',
    machinesTitle: 'fs_machines_title',
    machinesCaption: 'fs_machines_caption',
    noMachines: 'ui_no_machines_yet',
    refresh: 'fs_refresh',
    source: {
      machine: 'fs_source_machine',
      default: 'fs_source_default',
      builtin: 'fs_source_builtin'
    },
    fetched: seconds => t('fs_fetched', {when: SatmFees.when(seconds)}),
    notFetched: 'fs_not_fetched',
    edit: 'fs_edit',
    editTitle: ['fs_edit_title', 'name'],
    editCaption: 'fs_edit_caption',
    clear: 'fs_clear',
    clearConfirm: ['fs_clear_confirm', 'name'],
    overrideSaved: ['fs_override_saved', 'name'],
    cleared: ['fs_cleared', 'name'],
    columns: {
      name: 'col_machine',
      source: 'fs_schedule',
      cash_out: 'fs_cash_out',
      cash_in: 'fs_cash_in',
      version: 'fs_version',
      fetched: 'fs_fetched_by_machine'
    }
  })

  const REFRESH_MS = 15000
  // Not loaded yet: shown as what a machine starts with.
  const sourceOf = fees => (fees ? fees.source : 'builtin')

  window.app.component('satmachineadmin-fee-schedules', {
    name: 'satmachineadmin-fee-schedules',
    props: {
      machines: {type: Array, default: () => []},
      platform: {type: Object, default: () => ({})}
    },
    data() {
      return {
        text: TEXT,
        operatorFees: null,
        byMachine: {},
        error: '',
        defaultError: '',
        dialog: {show: false, machine: null, schedule: null},
        // Priorities as in static/js/columns.js: a phone shows the machine,
        // its two fees and the edit button; where the schedule comes from and
        // whether the machine fetched it, from a tablet's width.
        columns: [
          {name: 'name', label: TEXT.columns.name, field: 'name', align: 'left'},
          {name: 'source', label: TEXT.columns.source, field: 'id', align: 'left', priority: 2},
          {name: 'cash_out', label: TEXT.columns.cash_out, field: 'id', align: 'left'},
          {name: 'cash_in', label: TEXT.columns.cash_in, field: 'id', align: 'left'},
          {name: 'version', label: TEXT.columns.version, field: 'id', priority: 3},
          {name: 'fetched', label: TEXT.columns.fetched, field: 'id', align: 'left', priority: 2},
          {name: 'actions', label: '', field: 'id'}
        ]
      }
    },
    computed: {
      visibleColumns() {
        return window.SatMachine.visibleColumns(this.columns, this.$q.screen.width)
      },
      isSet() {
        const fees = this.operatorFees
        if (!fees) return true // not loaded yet: no notice
        return fees.is_set
      },
      defaultSchedule() {
        return (this.operatorFees && this.operatorFees.default) || SatmFees.BUILTIN
      },
      maxBps() {
        const cap = key => this.platform[`${key}_max_commission_bps`]
        if (cap('cash_out') === undefined) return null
        return {cash_out: cap('cash_out'), cash_in: cap('cash_in')}
      },
      machineIds() {
        return this.machines.map(machine => machine.id).join(',')
      }
    },
    watch: {
      machineIds() {
        this.loadMachines()
      }
    },
    methods: {
      fees(machine) {
        return this.byMachine[machine.id] || null
      },
      editable(machine) {
        // The dialog's form is a copy of the schedule the machine has now (its
        // own, or the default): it cannot open before both are known, or it
        // would start from the built-in schedule and save that.
        return this.operatorFees !== null && this.fees(machine) !== null
      },
      sourceText(machine) {
        return TEXT.source[sourceOf(this.fees(machine))]
      },
      sourceColor(machine) {
        const source = sourceOf(this.fees(machine))
        // grey-8, not grey: white on Quasar's grey reads at 2.7:1, under 4.5:1.
        return {machine: 'purple', default: 'primary', builtin: 'grey-8'}[source]
      },
      effective(machine, direction) {
        const fees = this.fees(machine)
        if (!fees) return ''
        const schedule = fees.schedule || SatmFees.BUILTIN
        const code = schedule.fiat_code || machine.fiat_code
        return SatmFees.describe(schedule[direction], code)
      },
      version(machine) {
        const fees = this.fees(machine)
        return fees && fees.version ? String(fees.version) : '—'
      },
      fetchedText(machine) {
        const fees = this.fees(machine)
        if (!fees || !fees.version) return ''
        return fees.fetched ? TEXT.fetched(fees.fetched_at) : TEXT.notFetched
      },
      done(message) {
        Quasar.Notify.create({type: 'positive', message, timeout: 2000})
      },
      async load() {
        // Its own message: the machines' load that follows, when it succeeds,
        // must not clear it.
        try {
          this.operatorFees = await SatmFees.call('GET', '/fees')
          this.defaultError = ''
        } catch (error) {
          this.defaultError = SatmFees.errorText(error)
        }
        await this.loadMachines()
      },
      async loadMachines() {
        // Only the latest answer is shown: one that left before another load or
        // before a save here would put back what the table showed before it.
        const asked = this.forgetLoads()
        try {
          const answers = await Promise.all(
            this.machines.map(m => SatmFees.call('GET', `/machines/${m.id}/fees`))
          )
          if (asked !== this.loads) return
          this.byMachine = Object.fromEntries(
            answers.map(fees => [fees.machine_id, fees])
          )
          this.error = ''
        } catch (error) {
          this.error = SatmFees.errorText(error)
        }
      },
      forgetLoads() {
        this.loads = (this.loads || 0) + 1
        return this.loads
      },
      async defaultSaved(answer) {
        this.operatorFees = answer
        this.done(TEXT.saved)
        await this.loadMachines()
      },
      openEdit(machine) {
        const fees = this.fees(machine)
        this.dialog = {
          show: true,
          machine,
          schedule: (fees && fees.override) || this.defaultSchedule
        }
      },
      overrideSaved(answer) {
        this.forgetLoads()
        this.byMachine = {...this.byMachine, [answer.machine_id]: answer}
        this.done(TEXT.overrideSaved(this.dialog.machine.name))
        this.dialog.show = false
      },
      clearOverride(machine) {
        window.SatMachine.confirmDialog(TEXT.clearConfirm(machine.name)).onOk(async () => {
          try {
            const answer = await SatmFees.call('DELETE', `/machines/${machine.id}/fees`)
            this.forgetLoads()
            this.byMachine = {...this.byMachine, [answer.machine_id]: answer}
            this.error = ''
            this.done(TEXT.cleared(machine.name))
          } catch (error) {
            this.error = SatmFees.errorText(error)
          }
        })
      }
    },
    created() {
      this.load()
      // Whether each machine fetched its schedule changes without a reload.
      this.timer = setInterval(() => {
        if (!document.hidden && this.$el.offsetParent !== null) this.loadMachines()
      }, REFRESH_MS)
    },
    beforeUnmount() {
      clearInterval(this.timer)
    },
    template: `
      <div class="q-gutter-y-md" data-test="fee-panel">
        <q-card data-test="fee-default">
          <q-card-section>
            <div class="text-h6" v-text="text.defaultTitle"></div>
            <div class="text-caption" v-text="text.defaultCaption"></div>
          </q-card-section>
          <q-card-section v-if="!isSet" class="q-pt-none">
            <q-banner dense rounded class="bg-orange-1 text-black"
              data-test="fee-builtin-notice">
              <template v-slot:avatar><q-icon name="info" color="orange"></q-icon></template>
              <span v-text="text.builtinNotice"></span>
            </q-banner>
          </q-card-section>
          <q-card-section v-if="defaultError" class="q-pt-none text-negative"
            data-test="fee-default-error" role="alert" v-text="defaultError"></q-card-section>
          <q-card-section class="q-pt-none" v-if="operatorFees">
            <satmachineadmin-fee-schedule-editor path="/fees"
              :schedule="defaultSchedule" :max-bps="maxBps"
              @saved="defaultSaved"></satmachineadmin-fee-schedule-editor>
          </q-card-section>
        </q-card>

        <q-card data-test="fee-machines">
          <q-card-section class="row items-center">
            <div class="col">
              <div class="text-h6" v-text="text.machinesTitle"></div>
              <div class="text-caption" v-text="text.machinesCaption"></div>
            </div>
            <q-btn flat dense round icon="refresh" :aria-label="text.refresh"
              @click="load"></q-btn>
          </q-card-section>
          <q-card-section v-if="error" class="q-pt-none text-negative"
            data-test="fee-machines-error" role="alert" v-text="error"></q-card-section>
          <q-table flat dense :rows="machines" row-key="id" :columns="columns"
            :visible-columns="visibleColumns" wrap-cells
            :pagination="{rowsPerPage: 0}" hide-pagination
            :no-data-label="text.noMachines">
            <template v-slot:body="props">
              <q-tr :props="props" :data-test="'fee-machine-' + props.row.id">
                <q-td key="name" :props="props" v-text="props.row.name"></q-td>
                <q-td key="source" :props="props">
                  <q-badge :color="sourceColor(props.row)" data-test="fee-source"
                    v-text="sourceText(props.row)"></q-badge>
                </q-td>
                <q-td key="cash_out" :props="props" data-test="fee-cash-out"
                  v-text="effective(props.row, 'cash_out')"></q-td>
                <q-td key="cash_in" :props="props" data-test="fee-cash-in"
                  v-text="effective(props.row, 'cash_in')"></q-td>
                <q-td key="version" :props="props" data-test="fee-version"
                  v-text="version(props.row)"></q-td>
                <q-td key="fetched" :props="props" data-test="fee-fetched"
                  v-text="fetchedText(props.row)"></q-td>
                <q-td key="actions" :props="props" auto-width>
                  <q-btn flat dense icon="tune" :aria-label="text.edit"
                    :disable="!editable(props.row)" @click="openEdit(props.row)">
                    <q-tooltip v-text="text.edit"></q-tooltip></q-btn>
                  <q-btn v-if="fees(props.row) && fees(props.row).source === 'machine'"
                    flat dense icon="undo" :aria-label="text.clear"
                    @click="clearOverride(props.row)">
                    <q-tooltip v-text="text.clear"></q-tooltip></q-btn>
                </q-td>
              </q-tr>
            </template>
          </q-table>
        </q-card>

        <satmachineadmin-fee-quote :machines="machines"></satmachineadmin-fee-quote>

        <q-dialog v-model="dialog.show">
          <q-card style="width: 760px; max-width: 95vw" data-test="fee-override-dialog">
            <q-card-section v-if="dialog.machine">
              <div class="text-h6" v-text="text.editTitle(dialog.machine.name)"></div>
              <div class="text-caption" v-text="text.editCaption"></div>
            </q-card-section>
            <q-card-section class="q-pt-none" v-if="dialog.machine">
              <satmachineadmin-fee-schedule-editor cancellable
                :path="'/machines/' + dialog.machine.id + '/fees'"
                :schedule="dialog.schedule" :max-bps="maxBps"
                :fiat-code="dialog.machine.fiat_code"
                @saved="overrideSaved" @cancel="dialog.show = false">
              </satmachineadmin-fee-schedule-editor>
            </q-card-section>
          </q-card>
        </q-dialog>
      </div>
    `
  })
})()
