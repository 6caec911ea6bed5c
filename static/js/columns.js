// Every table's columns, in one place. A column's priority says from which width
// it is shown (SatMachine.visibleColumns): 1 always, 2 from a tablet, 3 from a
// laptop (1280 px), 4 on a wide screen. What a narrow screen leaves out is in the
// row's detail dialog.
window.SatMachineColumns = (() => {
  const {format: fmt} = window.SatMachine
  const fiat = row => fmt.fiat(row.fiat_amount, row.fiat_code)

  function availability(machine) {
    const beacon = machine.beacon || {}
    const parts = []
    if (beacon.cash_out !== undefined) parts.push(`out ${beacon.cash_out ? '✓' : '✗'}`)
    if (beacon.cash_in !== undefined) parts.push(`in ${beacon.cash_in ? '✓' : '✗'}`)
    return parts.join(' · ')
  }

  function cashLevel(level) {
    // A number is a percentage of the cassettes' capacity; words stay words.
    const shown = value => (typeof value === 'number' ? `${value} %` : String(value))
    if (level === undefined || level === null) return ''
    if (typeof level === 'object') {
      return Object.entries(level)
        .map(([key, value]) => `${key}: ${shown(value)}`)
        .join(', ')
    }
    return shown(level)
  }

  // vm: the page, for the names it knows (machines, LPs, payout targets).
  function operator(vm) {
    const machine = row => vm.machineName(row.machine_id)
    return {
      machineOverviewColumns: [
        {name: 'name', label: 'Machine', field: 'name', align: 'left'},
        {name: 'online', label: 'Status', field: 'online', align: 'left'},
        {name: 'available', label: 'Cash out / in', field: availability, priority: 3},
        {
          name: 'cash',
          label: 'Cash level',
          field: row => cashLevel((row.beacon || {}).cash_level),
          priority: 2
        },
        {name: 'seen', label: 'Last seen', field: row => fmt.when(row.last_seen), priority: 3},
        {name: 'balance', label: 'Wallet balance', field: row => fmt.sats(row.balance_sats)}
      ],
      machineColumns: [
        {name: 'actions', label: '', field: 'id', align: 'left'},
        {name: 'name', label: 'Name', field: 'name', align: 'left', sortable: true},
        {name: 'location', label: 'Location', field: 'location', align: 'left', priority: 4},
        {
          name: 'fiat',
          label: 'Fiat',
          field: row => row.fiat_code || (row.beacon || {}).fiat || '',
          priority: 3
        },
        {name: 'online', label: 'Status', field: 'online', align: 'left', priority: 2},
        {name: 'available', label: 'Cash out / in', field: availability, priority: 4},
        {
          name: 'cash',
          label: 'Cash level',
          field: row => cashLevel((row.beacon || {}).cash_level),
          priority: 3
        },
        {name: 'model', label: 'Model', field: row => (row.beacon || {}).model || '', priority: 3},
        {name: 'seen', label: 'Last seen', field: row => fmt.when(row.last_seen), priority: 3},
        {name: 'balance', label: 'Balance', field: row => fmt.sats(row.balance_sats)},
        {name: 'npub', label: 'npub', field: 'npub', align: 'left', priority: 4}
      ],
      settlementColumns: [
        {name: 'created', label: 'When', field: row => fmt.when(row.created_at), align: 'left'},
        {name: 'machine', label: 'Machine', field: machine, align: 'left', priority: 2},
        {name: 'tx', label: 'Transaction', field: 'tx_id', align: 'left', priority: 3},
        {name: 'direction', label: 'Direction', field: row => fmt.direction(row.direction), priority: 2},
        {name: 'fiat', label: 'Fiat', field: fiat},
        {name: 'gross', label: 'Volume', field: row => fmt.sats(row.gross_sats), priority: 3},
        {name: 'commission', label: 'Commission', field: row => fmt.sats(row.commission_sats), priority: 3},
        {name: 'platform', label: 'Platform fee', field: row => fmt.sats(row.platform_fee_sats), priority: 4},
        {name: 'operator', label: 'Operator fee', field: row => fmt.sats(row.operator_fee_sats), priority: 4},
        {name: 'lp', label: 'To LPs', field: row => fmt.sats(row.lp_allocated_sats), priority: 4},
        {name: 'status', label: 'Status', field: 'status'}
      ],
      legColumns: [
        {name: 'kind', label: 'Kind', field: row => row.kind.replace(/_/g, ' '), align: 'left', priority: 3},
        {name: 'label', label: 'Label', field: 'label', align: 'left', priority: 2},
        {name: 'target', label: 'To', field: row => vm.legTarget(row), align: 'left'},
        {name: 'sats', label: 'Sats', field: row => fmt.sats(row.sats)},
        {name: 'fiat', label: 'Fiat', field: row => row.fiat_amount || '', priority: 3},
        {name: 'status', label: 'Status', field: 'status'},
        {name: 'attempts', label: 'Attempts', field: 'attempts', priority: 4},
        {name: 'paid', label: 'Paid', field: row => fmt.when(row.paid_at), priority: 3},
        {name: 'error', label: 'Last error', field: row => row.last_error || '', align: 'left', priority: 2}
      ],
      abandonedColumns: [
        {name: 'created', label: 'When', field: row => fmt.when(row.created_at), align: 'left'},
        {name: 'machine', label: 'Machine', field: machine, align: 'left', priority: 2},
        {name: 'tx', label: 'Transaction', field: 'tx_id', align: 'left', priority: 4},
        {name: 'direction', label: 'Direction', field: row => fmt.direction(row.direction), priority: 3},
        {name: 'fiat', label: 'Fiat', field: fiat, priority: 2},
        {name: 'sats', label: 'Sats', field: row => fmt.sats(row.amount_sats), priority: 3},
        {name: 'status', label: 'Status', field: 'status', priority: 3},
        {name: 'note', label: 'Why', field: row => row.note || '', align: 'left', priority: 4},
        {name: 'actions', label: '', field: 'id'}
      ],
      worklistColumns: [
        {name: 'created', label: 'When', field: row => fmt.when(row.created_at), align: 'left'},
        {name: 'machine', label: 'Machine', field: machine, align: 'left', priority: 2},
        {name: 'tx', label: 'Transaction', field: 'tx_id', align: 'left', priority: 3},
        {name: 'gross', label: 'Volume', field: row => fmt.sats(row.gross_sats), priority: 4},
        {name: 'status', label: 'Payouts', field: 'status', align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ],
      lpColumns: [
        {name: 'name', label: 'LP', field: 'name', align: 'left'},
        {name: 'fiat', label: 'Currency', field: 'fiat_code', priority: 3},
        {name: 'deposited', label: 'Deposited', field: row => fmt.fiat(row.deposited, row.fiat_code), priority: 3},
        {name: 'pending', label: 'Unconfirmed', field: row => fmt.fiat(row.pending_deposits, row.fiat_code), priority: 4},
        {name: 'distributed', label: 'Distributed', field: row => fmt.fiat(row.distributed, row.fiat_code), priority: 4},
        {name: 'held', label: 'Held (being paid)', field: row => fmt.fiat(row.held, row.fiat_code), priority: 4},
        {name: 'voided', label: 'Voided', field: row => fmt.fiat(row.voided, row.fiat_code), priority: 4},
        {name: 'balance', label: 'Balance', field: row => fmt.fiat(row.balance, row.fiat_code)},
        {name: 'sats', label: 'Sats sent', field: row => fmt.sats(row.distributed_sats), priority: 3},
        {name: 'actions', label: '', field: 'id'}
      ],
      depositColumns: [
        {name: 'created', label: 'When', field: row => fmt.when(row.created_at), align: 'left', priority: 2},
        {name: 'lp', label: 'LP', field: row => vm.lpName(row.enrolment_id), align: 'left'},
        {name: 'amount', label: 'Amount', field: fiat},
        {name: 'status', label: 'Status', field: 'status', priority: 2},
        {name: 'note', label: 'Note', field: row => row.note || '', align: 'left', priority: 4},
        {name: 'actions', label: '', field: 'id'}
      ],
      balanceSettlementColumns: [
        {name: 'created', label: 'When', field: row => fmt.when(row.created_at), align: 'left', priority: 2},
        {name: 'amount', label: 'Amount', field: fiat},
        {
          name: 'rate',
          label: 'Rate',
          field: row => `${fmt.rate(row.exchange_rate)} (${row.rate_source})`,
          priority: 4
        },
        {name: 'sats', label: 'Sats', field: row => fmt.sats(row.sats), priority: 3},
        {name: 'status', label: 'Status', field: 'status', align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ]
    }
  }

  return {operator, availability, cashLevel}
})()
