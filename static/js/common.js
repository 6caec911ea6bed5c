// Shared by the operator's, the LP's and the super user's pages: the API, one
// formatting layer (LNbits' for sats, Intl for fiat and rates), messages in the
// user's words, and amounts typed with the user's own decimal mark.
window.SatMachine = (() => {
  const API = '/satmachineadmin/api/v1'
  // fiat.py's currencies whose minor unit is not the cent.
  const FIAT_DIGITS = {
    BHD: 3, BIF: 0, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0,
    KMF: 0, KRW: 0, KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0,
    UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0
  }

  function locale() {
    const global = window.i18n && window.i18n.global
    const chosen = global && (global.locale.value || global.locale)
    return typeof chosen === 'string' ? chosen : navigator.language || 'en'
  }

  // One of this extension's strings in the page's language (LNbits' i18n), with
  // {named} values filled in; English when LNbits has no i18n yet.
  function t(key, values) {
    const full = `satmachineadmin.${key}`
    const global = window.i18n && window.i18n.global
    if (global) return global.t(full, values || {})
    const english = ((window.SatMachineMessages || {}).en || {})[key] || key
    return english
      .replace(/\{'([^']*)'\}/g, (_, literal) => literal)
      .replace(/\{(\w+)\}/g, (_, name) => (values || {})[name] ?? '')
  }

  // English words of the directions, for a page without the dictionary.
  const DIRECTIONS = {cash_out: 'cash-out', cash_in: 'cash-in'}

  // A status or enum value as a word in the page's language; a value this page
  // has no word for is shown as it is.
  function word(prefix, value, fallback) {
    if (value === null || value === undefined || value === '') return ''
    const global = window.i18n && window.i18n.global
    const key = `${prefix}_${value}`
    const known = global
      ? global.te(`satmachineadmin.${key}`) || global.te(`satmachineadmin.${key}`, 'en')
      : key in ((window.SatMachineMessages || {}).en || {})
    if (known) return t(key)
    return (fallback && fallback[value]) || String(value).replace(/_/g, ' ')
  }

  function statusWord(status) {
    return word('status', status)
  }

  // A component's texts, read in the page's language each time they are used:
  // spec maps a name to a key, to [key, ...the names of a function's values],
  // to a function (kept), or to a nested spec.
  function texts(spec) {
    const out = {}
    for (const [name, entry] of Object.entries(spec)) {
      if (typeof entry === 'string') {
        Object.defineProperty(out, name, {get: () => t(entry), enumerable: true})
      } else if (Array.isArray(entry)) {
        const [key, ...names] = entry
        out[name] = (...args) =>
          t(key, Object.fromEntries(names.map((n, i) => [n, args[i]])))
      } else if (typeof entry === 'function') {
        out[name] = entry
      } else {
        out[name] = texts(entry)
      }
    }
    return out
  }

  // Quasar's own table words (rows per page, "1-10 of 20", no data), which
  // LNbits leaves in English, in the page's language: read when a table renders.
  function translateTables(q) {
    const table = q.lang.table
    Object.defineProperty(table, 'recordsPerPage', {
      get: () => t('table_rows_per_page'),
      configurable: true
    })
    Object.defineProperty(table, 'noData', {get: () => t('table_no_data'), configurable: true})
    table.pagination = (start, end, total) => t('table_pagination', {start, end, total})
  }

  // Relabels columns written in English with their translation, read when the
  // table renders (so LNbits' language switch relabels them).
  function translateColumns(columns) {
    const english = (window.SatMachineMessages || {}).en || {}
    const keys = {}
    for (const [key, text] of Object.entries(english)) keys[text] ??= key
    for (const column of columns) {
      const key = keys[column.label]
      if (!key) continue
      Object.defineProperty(column, 'label', {get: () => t(key), enumerable: true})
    }
    return columns
  }

  function fiatDigits(code) {
    return FIAT_DIGITS[(code || '').toUpperCase()] ?? 2
  }

  // A decimal string from the API, grouped in the user's locale without going
  // through a float: the digits stay exactly the API's.
  function groupDecimal(text, digits) {
    if (text === null || text === undefined || text === '') return ''
    const [whole, fraction = ''] = String(text).split('.')
    // A number of seven digits: some locales (es) group only from five.
    const parts = new Intl.NumberFormat(locale(), {minimumFractionDigits: 1})
      .formatToParts(1000000.5)
    const group = (parts.find(p => p.type === 'group') || {value: ','}).value
    const decimal = (parts.find(p => p.type === 'decimal') || {value: '.'}).value
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, group)
    const shown = digits === undefined ? fraction : fraction.padEnd(digits, '0')
    return shown ? `${grouped}${decimal}${shown}` : grouped
  }

  const format = {
    sats(value) {
      return value === null || value === undefined
        ? ''
        : `${LNbits.utils.formatSat(value)} sat`
    },
    fiat(amount, code) {
      if (amount === null || amount === undefined || amount === '') return ''
      return `${groupDecimal(amount, fiatDigits(code))} ${code || ''}`.trim()
    },
    rate(value) {
      // Fiat per BTC: whole units read best (650,000); a fraction is kept.
      if (!value) return ''
      const [whole, fraction = ''] = String(value).split('.')
      const kept = fraction.replace(/0+$/, '')
      return groupDecimal(kept ? `${whole}.${kept}` : whole)
    },
    when(seconds) {
      return seconds ? new Date(seconds * 1000).toLocaleString(locale()) : ''
    },
    direction(value) {
      return word('direction', value, DIRECTIONS)
    },
    percent(value) {
      return value === null || value === undefined ? '' : `${value} %`
    }
  }

  // "1.000,50", "1,000.50", "12,50", "1000": the exact decimal string the API
  // takes, or null when the text is not an amount. A lone separator followed by
  // exactly three digits ("1,000" or "1.000") is read as the user's locale
  // writes numbers.
  function parseAmount(text) {
    const raw = String(text ?? '').trim().replace(/[\s\u00a0\u202f']/g, '')
    if (!/^[0-9.,]+$/.test(raw) || !/[0-9]/.test(raw)) return null
    const dots = (raw.match(/\./g) || []).length
    const commas = (raw.match(/,/g) || []).length
    let decimalMark = null
    if (dots && commas) {
      decimalMark = raw.lastIndexOf('.') > raw.lastIndexOf(',') ? '.' : ','
    } else if (dots + commas === 1) {
      const mark = dots ? '.' : ','
      const after = raw.length - raw.indexOf(mark) - 1
      if (after !== 3) decimalMark = mark
      else decimalMark = localeDecimal() === mark ? mark : null
    } else if (dots + commas > 1) {
      decimalMark = null // only grouping: 1,000,000 or 1.000.000
    }
    const groupMark = decimalMark === '.' ? ',' : decimalMark === ',' ? '.' : dots ? '.' : ','
    const [whole, fraction, extra] = decimalMark ? raw.split(decimalMark) : [raw]
    if (extra !== undefined || (fraction !== undefined && !/^\d+$/.test(fraction))) {
      return null
    }
    const groups = whole.split(groupMark)
    if (groups.length > 1) {
      if (!/^\d{1,3}$/.test(groups[0]) || groups.slice(1).some(g => !/^\d{3}$/.test(g))) {
        return null
      }
    }
    const digits = groups.join('')
    if (!/^\d+$/.test(digits)) return null
    return fraction === undefined ? digits : `${digits}.${fraction}`
  }

  function localeDecimal() {
    const parts = new Intl.NumberFormat(locale()).formatToParts(1.5)
    return (parts.find(p => p.type === 'decimal') || {value: '.'}).value
  }

  // What went wrong, in the user's words: the API's own message (every refusal
  // of this extension is a plain sentence), never an HTTP status line.
  function errorMessage(error) {
    const response = error && error.response
    if (!response) return t('error_unreachable')
    const detail = response.data && response.data.detail
    if (typeof detail === 'string' && detail) return detail
    if (Array.isArray(detail) && detail.length) {
      return detail.map(item => item.msg || String(item)).join('; ')
    }
    if (response.status === 401 || response.status === 403) {
      return t('error_not_allowed')
    }
    if (response.status === 404) return t('error_gone')
    return t('error_server')
  }

  // A q-input rule: a whole number from min to max (blank only when optional);
  // true, or what the field takes, in words.
  function wholeInRange(min, max, optional) {
    return value => {
      const text = String(value ?? '').trim()
      if (text === '') return optional || t('rule_required')
      const n = Number(text)
      return (/^[0-9]+$/.test(text) && n >= min && n <= max) || t('rule_range', {min, max})
    }
  }

  const notify = {
    done(message) {
      Quasar.Notify.create({type: 'positive', message, timeout: 2500})
    },
    problem(message) {
      Quasar.Notify.create({type: 'warning', message, timeout: 6000, closeBtn: true})
    },
    error(error) {
      notify.problem(errorMessage(error))
    }
  }

  async function call(method, path, data, options) {
    const answer = await LNbits.api.request(method, `${API}${path}`, null, data, options)
    return answer.data
  }

  // LNbits' confirmation dialog, with its buttons in the page's language.
  function confirmDialog(message) {
    return Quasar.Dialog.create({
      message,
      ok: {flat: true, color: 'orange', label: t('ui_ok')},
      cancel: {flat: true, color: 'grey', label: t('ui_cancel')}
    })
  }

  function confirm(message) {
    return new Promise(resolve => {
      confirmDialog(message)
        .onOk(() => resolve(true))
        .onCancel(() => resolve(false))
        .onDismiss(() => resolve(false))
    })
  }

  // Dark enough for white text (at least 4.5:1) on either theme.
  function statusColor(status) {
    return {settled: 'green-9', paid: 'green-9', processing: 'blue-9', failed: 'red-9'}[
      status
    ] || 'grey-8'
  }

  // "3/4 paid", "1 of 4 payouts failed": a settlement's payouts at a glance.
  function progress(row) {
    if (!row) return {text: '', color: 'grey-8'}
    if (!row.legs_total) return {text: statusWord(row.status), color: statusColor(row.status)}
    const counts = {done: row.legs_done, failed: row.legs_failed, total: row.legs_total}
    if (row.legs_failed) return {text: t('progress_failed', counts), color: 'red-9'}
    const color = row.legs_done === row.legs_total ? 'green-9' : 'blue-9'
    return {text: t('progress_paid', counts), color}
  }

  // Columns that fit the screen: a column's priority (1 always, 2 from a tablet,
  // 3 from a laptop, 4 from a wide screen) against the window's width.
  function visibleColumns(columns, width) {
    const level = width < 600 ? 1 : width < 1024 ? 2 : width < 1600 ? 3 : 4
    return columns.filter(c => (c.priority || 1) <= level).map(c => c.name)
  }

  // Gives columns their priorities by name (for pages that define them inline).
  function prioritise(columns, priorities) {
    for (const column of columns) {
      if (priorities[column.name]) column.priority = priorities[column.name]
    }
    return columns
  }

  // The polls wait longer while nothing changes and go back to the shortest wait
  // when something does.
  function backoff(current, changed, {min = 5000, max = 20000} = {}) {
    return changed ? min : Math.min(max, Math.round(current * 1.6))
  }

  // Draws a Chart.js chart on the canvas or, when `chart` is already drawn there,
  // gives it the new data in place: a refresh (a notice, a poll) neither
  // re-creates the chart under the reader's pointer nor leaves it missing for a
  // moment. Returns the chart to keep for the next call.
  function drawChart(chart, canvas, config) {
    if (chart && chart.canvas === canvas && chart.config.type === config.type) {
      chart.data = config.data
      chart.update('none')
      return chart
    }
    if (chart) chart.destroy()
    return new Chart(canvas, config)
  }

  // Calls onChange(areas) when something the page shows has changed, over
  // LNbits' websocket. The channel is the user's own, from the API; a notice names
  // only areas ("settlements", "lps", ...) and the page refetches them. Reopens
  // with a growing wait; onState(open) says whether notices arrive, so the page
  // can poll often while they do not.
  function listen(onChange, onState = () => {}) {
    let socket = null
    let stopped = false
    let timer = null
    let wait = 1000
    const retry = () => {
      if (stopped) return
      clearTimeout(timer)
      timer = setTimeout(open, wait)
      wait = Math.min(60000, wait * 2)
    }
    async function open() {
      if (stopped) return
      let channel
      try {
        channel = (await call('GET', '/push/channel')).channel
      } catch (error) {
        retry()
        return
      }
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
      socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws/${channel}`)
      socket.onopen = () => {
        wait = 1000
        onState(true)
      }
      socket.onmessage = message => {
        let areas = []
        try {
          areas = [].concat(JSON.parse(message.data).changed || [])
        } catch (error) {
          return // not a notice of ours
        }
        onChange(areas.filter(area => typeof area === 'string'))
      }
      socket.onclose = () => {
        socket = null
        onState(false)
        retry()
      }
    }
    open()
    return {
      isOpen: () => socket !== null && socket.readyState === WebSocket.OPEN,
      close() {
        stopped = true
        clearTimeout(timer)
        if (socket) socket.close()
      }
    }
  }

  return {
    API,
    t,
    word,
    statusWord,
    texts,
    translateTables,
    translateColumns,
    format,
    fiatDigits,
    groupDecimal,
    parseAmount,
    wholeInRange,
    errorMessage,
    notify,
    call,
    confirm,
    confirmDialog,
    visibleColumns,
    prioritise,
    statusColor,
    progress,
    backoff,
    drawChart,
    listen
  }
})()
