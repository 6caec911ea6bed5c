// Every table's columns, in one place. A column's priority says from which width
// it is shown (SatMachine.visibleColumns): 1 always, 2 from a tablet, 3 from a
// laptop (1280 px), 4 on a wide screen. What a narrow screen leaves out is in the
// row's detail dialog.
window.SatMachineColumns = (() => {
  const {format: fmt, t, word, statusWord} = window.SatMachine
  const status = row => statusWord(row.status)
  const fiat = row => fmt.fiat(row.fiat_amount, row.fiat_code)

  function availability(machine) {
    const beacon = machine.beacon || {}
    const parts = []
    const mark = on => (on ? '✓' : '✗')
    if (beacon.cash_out !== undefined) parts.push(t('available_out', {mark: mark(beacon.cash_out)}))
    if (beacon.cash_in !== undefined) parts.push(t('available_in', {mark: mark(beacon.cash_in)}))
    return parts.join(' · ')
  }

  function legLabel(kind) {
    return kind === 'platform_fee' ? t('col_platform_fee') : t('ui_liquidity_provider')
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

  // A column's label in the page's language, read when the table renders (so
  // LNbits' language switch relabels it).
  function translated(sets) {
    for (const columns of Object.values(sets)) {
      for (const column of columns) {
        if (!column.labelKey) continue
        Object.defineProperty(column, 'label', {
          get: () => t(column.labelKey),
          enumerable: true
        })
      }
    }
    return sets
  }

  // vm: the page, for the names it knows (machines, LPs, payout targets).
  function operator(vm) {
    const machine = row => vm.machineName(row.machine_id)
    return translated({
      machineOverviewColumns: [
        {name: 'name', labelKey: 'col_machine', field: 'name', align: 'left'},
        {name: 'online', labelKey: 'col_status', field: 'online', align: 'left'},
        {name: 'available', labelKey: 'col_available', field: availability, priority: 3},
        {
          name: 'cash',
          labelKey: 'col_cash',
          field: row => cashLevel((row.beacon || {}).cash_level),
          priority: 2
        },
        {name: 'seen', labelKey: 'col_seen', field: row => fmt.when(row.last_seen), priority: 3},
        {name: 'balance', labelKey: 'col_wallet_balance', field: row => fmt.sats(row.balance_sats)}
      ],
      machineColumns: [
        {name: 'actions', label: '', field: 'id', align: 'left'},
        {name: 'name', labelKey: 'col_name', field: 'name', align: 'left', sortable: true},
        {name: 'location', labelKey: 'col_location', field: 'location', align: 'left', priority: 4},
        {
          name: 'fiat',
          labelKey: 'col_fiat',
          field: row => row.fiat_code || (row.beacon || {}).fiat || '',
          priority: 3
        },
        {name: 'online', labelKey: 'col_status', field: 'online', align: 'left', priority: 2},
        {name: 'available', labelKey: 'col_available', field: availability, priority: 4},
        {
          name: 'cash',
          labelKey: 'col_cash',
          field: row => cashLevel((row.beacon || {}).cash_level),
          priority: 3
        },
        {name: 'model', labelKey: 'col_model', field: row => (row.beacon || {}).model || '', priority: 3},
        {name: 'seen', labelKey: 'col_seen', field: row => fmt.when(row.last_seen), priority: 3},
        {name: 'balance', labelKey: 'col_balance', field: row => fmt.sats(row.balance_sats)},
        {name: 'npub', label: 'npub', field: 'npub', align: 'left', priority: 4}
      ],
      settlementColumns: [
        {name: 'created', labelKey: 'col_when', field: row => fmt.when(row.created_at), align: 'left'},
        {name: 'machine', labelKey: 'col_machine', field: machine, align: 'left', priority: 2},
        {name: 'tx', labelKey: 'col_transaction', field: 'tx_id', align: 'left', priority: 3},
        {
          name: 'direction',
          labelKey: 'col_direction',
          // A cash-in by LNURL-withdraw is its own source.
          field: row => fmt.direction(row.direction) + (row.source === 'lnurl' ? ' (LNURL)' : ''),
          priority: 2
        },
        {name: 'fiat', labelKey: 'col_fiat', field: fiat},
        {name: 'gross', labelKey: 'col_volume', field: row => fmt.sats(row.gross_sats), priority: 3},
        {name: 'commission', labelKey: 'col_commission', field: row => fmt.sats(row.commission_sats), priority: 3},
        {name: 'platform', labelKey: 'col_platform_fee', field: row => fmt.sats(row.platform_fee_sats), priority: 4},
        {name: 'operator', labelKey: 'col_operator_fee', field: row => fmt.sats(row.operator_fee_sats), priority: 4},
        {name: 'lp', labelKey: 'col_to_lps', field: row => fmt.sats(row.lp_allocated_sats), priority: 4},
        {name: 'status', labelKey: 'col_status', field: status}
      ],
      legColumns: [
        {name: 'kind', labelKey: 'col_kind', field: row => word('kind', row.kind), align: 'left', priority: 3},
        {
          name: 'label',
          labelKey: 'col_label',
          // The split's own label is the operator's; the others are what the
          // leg is, in the page's language.
          field: row => (row.kind === 'operator_split' ? row.label : legLabel(row.kind)),
          align: 'left',
          priority: 2
        },
        {name: 'target', labelKey: 'col_to', field: row => vm.legTarget(row), align: 'left'},
        {name: 'sats', labelKey: 'col_sats', field: row => fmt.sats(row.sats)},
        {name: 'fiat', labelKey: 'col_fiat', field: row => row.fiat_amount || '', priority: 3},
        {name: 'status', labelKey: 'col_status', field: status},
        {name: 'attempts', labelKey: 'col_attempts', field: 'attempts', priority: 4},
        {name: 'paid', labelKey: 'col_paid', field: row => fmt.when(row.paid_at), priority: 3},
        {name: 'error', labelKey: 'col_last_error', field: row => row.last_error || '', align: 'left', priority: 2}
      ],
      abandonedColumns: [
        {name: 'created', labelKey: 'col_when', field: row => fmt.when(row.created_at), align: 'left'},
        {name: 'machine', labelKey: 'col_machine', field: machine, align: 'left', priority: 2},
        // Which transaction, and why it is here, are what the operator resolves by.
        {name: 'tx', labelKey: 'col_transaction', field: 'tx_id', align: 'left', priority: 3},
        {name: 'direction', labelKey: 'col_direction', field: row => fmt.direction(row.direction), priority: 3},
        {name: 'fiat', labelKey: 'col_fiat', field: fiat, priority: 2},
        {name: 'sats', labelKey: 'col_sats', field: row => fmt.sats(row.amount_sats), priority: 3},
        {name: 'status', labelKey: 'col_status', field: status, priority: 3},
        {name: 'note', labelKey: 'col_why', field: row => row.note || '', align: 'left', priority: 3},
        {name: 'actions', label: '', field: 'id'}
      ],
      worklistColumns: [
        {name: 'created', labelKey: 'col_when', field: row => fmt.when(row.created_at), align: 'left'},
        {name: 'machine', labelKey: 'col_machine', field: machine, align: 'left', priority: 2},
        {name: 'tx', labelKey: 'col_transaction', field: 'tx_id', align: 'left', priority: 3},
        {name: 'gross', labelKey: 'col_volume', field: row => fmt.sats(row.gross_sats), priority: 4},
        {name: 'status', labelKey: 'col_payouts', field: 'status', align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ],
      lpColumns: [
        {name: 'name', labelKey: 'col_lp', field: 'name', align: 'left'},
        {name: 'fiat', labelKey: 'col_currency', field: 'fiat_code', priority: 3},
        {name: 'deposited', labelKey: 'col_deposited', field: row => fmt.fiat(row.deposited, row.fiat_code), priority: 3},
        {name: 'pending', labelKey: 'col_unconfirmed', field: row => fmt.fiat(row.pending_deposits, row.fiat_code), priority: 4},
        {name: 'distributed', labelKey: 'col_distributed', field: row => fmt.fiat(row.distributed, row.fiat_code), priority: 4},
        {name: 'held', labelKey: 'col_held', field: row => fmt.fiat(row.held, row.fiat_code), priority: 4},
        {name: 'voided', labelKey: 'col_voided', field: row => fmt.fiat(row.voided, row.fiat_code), priority: 4},
        {name: 'balance', labelKey: 'col_balance', field: row => fmt.fiat(row.balance, row.fiat_code)},
        {name: 'sats', labelKey: 'col_sats_sent', field: row => fmt.sats(row.distributed_sats), priority: 3},
        {name: 'actions', label: '', field: 'id'}
      ],
      depositColumns: [
        {name: 'created', labelKey: 'col_when', field: row => fmt.when(row.created_at), align: 'left', priority: 2},
        {name: 'lp', labelKey: 'col_lp', field: row => vm.lpName(row.enrolment_id), align: 'left'},
        {name: 'amount', labelKey: 'col_amount', field: fiat},
        {name: 'status', labelKey: 'col_status', field: status, priority: 2},
        {name: 'note', labelKey: 'col_note', field: row => row.note || '', align: 'left', priority: 4},
        {name: 'actions', label: '', field: 'id'}
      ],
      balanceSettlementColumns: [
        {name: 'created', labelKey: 'col_when', field: row => fmt.when(row.created_at), align: 'left', priority: 2},
        {name: 'lp', labelKey: 'col_lp', field: row => vm.lpName(row.enrolment_id), align: 'left'},
        {name: 'amount', labelKey: 'col_amount', field: fiat},
        {
          name: 'rate',
          labelKey: 'col_rate',
          field: row => `${fmt.rate(row.exchange_rate)} (${word('rate_source', row.rate_source)})`,
          priority: 4
        },
        {name: 'sats', labelKey: 'col_sats', field: row => fmt.sats(row.sats), priority: 3},
        {name: 'status', labelKey: 'col_status', field: status, align: 'left'},
        {name: 'actions', label: '', field: 'id'}
      ]
    })
  }

  return {operator, availability, cashLevel}
})()
