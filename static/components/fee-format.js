// What the fee components share: the API, percent <-> basis points, how a
// schedule reads in words, and an API refusal as a plain sentence. Loaded before
// the fee components of a page.
window.SatmFees = (() => {
  const API = '/satmachineadmin/api/v1'
  const PERCENT = /^\d{1,3}(\.\d{1,2})?$/
  const DECIMAL = /^\d+(\.\d+)?$/
  const BPS_MAX = 10000
  // The API's bounds: every sat amount (models/base.py, 21 million BTC) and a
  // fixed fee (models/fees.py, 0.01 BTC).
  const MAX_SATS = 2100000000000000
  const MAX_FIXED_FEE_SATS = 1000000
  // The schedule a machine is priced with while its operator has set none.
  const NO_LIMITS = {
    commission_bps: 0,
    fixed_fee_sats: 0,
    min_fiat: null,
    max_fiat: null
  }
  const BUILTIN = {cash_out: {...NO_LIMITS}, cash_in: {...NO_LIMITS}}
  const DIRECTIONS = ['cash_out', 'cash_in']

  const TEXT = window.SatMachine.texts({
    cash_out: 'fs_cash_out',
    cash_in: 'fs_cash_in',
    noLimits: 'ff_no_limits',
    from: 'ff_from',
    upTo: 'ff_up_to',
    to: 'ff_to',
    refused: 'ff_refused',
    unreachable: 'ff_unreachable'
  })

  function sats(value) {
    return value === null || value === undefined
      ? ''
      : `${LNbits.utils.formatSat(value)} sat`
  }

  function when(seconds) {
    return window.SatMachine.format.when(seconds)
  }

  function percent(bps) {
    return bps === null || bps === undefined ? '' : (bps / 100).toFixed(2)
  }

  // A percent typed with at most two decimals, as basis points; null otherwise.
  function toBps(text) {
    const value = String(text === null || text === undefined ? '' : text).trim()
    if (!PERCENT.test(value)) return null
    const [whole, fraction = ''] = value.split('.')
    const bps = Number(whole) * 100 + Number(fraction.padEnd(2, '0'))
    return bps <= BPS_MAX ? bps : null
  }

  function limitsText(fees, fiatCode) {
    const code = fiatCode ? ` ${fiatCode}` : ''
    // Grouped as every other amount is, in the currency's decimals when known.
    const digits = fiatCode ? window.SatMachine.fiatDigits(fiatCode) : undefined
    const amount = value =>
      value === null ? null : window.SatMachine.groupDecimal(value, digits)
    const low = amount(fees.min_fiat)
    const high = amount(fees.max_fiat)
    if (low === null && high === null) return TEXT.noLimits
    if (low === null) return `${TEXT.upTo} ${high}${code}`
    if (high === null) return `${TEXT.from} ${low}${code}`
    return `${low} ${TEXT.to} ${high}${code}`
  }

  // "5.00 % + 100 sat, 20.00 to 5,000.00 GTQ"
  function describe(fees, fiatCode) {
    if (!fees) return ''
    const fixed = fees.fixed_fee_sats ? ` + ${sats(fees.fixed_fee_sats)}` : ''
    return `${percent(fees.commission_bps)} %${fixed}, ${limitsText(fees, fiatCode)}`
  }

  // The contract's rule: fixed fee plus the rate of the principal, half up.
  function scheduleFee(principalSats, fees) {
    const scaled = BigInt(principalSats) * BigInt(fees.commission_bps) + 5000n
    return Number(BigInt(fees.fixed_fee_sats) + scaled / 10000n)
  }

  const sentence = text => text.charAt(0).toUpperCase() + text.slice(1)

  // The API's `detail`: a sentence, or pydantic's list of field errors.
  function errorText(error) {
    return sentence(detailText(error))
  }

  function detailText(error) {
    const response = error && error.response
    if (!response) return TEXT.unreachable
    const detail = response.data && response.data.detail
    if (typeof detail === 'string' && detail) return detail
    if (Array.isArray(detail) && detail.length) {
      return detail
        .map(item => {
          const where = (item.loc || []).find(part => TEXT[part])
          const message = String(item.msg || '').replace(/^value error, /i, '')
          return where ? `${TEXT[where]}: ${message}` : message
        })
        .join('; ')
    }
    return TEXT.refused
  }

  async function call(method, path, data) {
    return (await LNbits.api.request(method, `${API}${path}`, null, data)).data
  }

  return {
    API,
    BUILTIN,
    DECIMAL,
    DIRECTIONS,
    MAX_FIXED_FEE_SATS,
    MAX_SATS,
    TEXT,
    call,
    describe,
    errorText,
    limitsText,
    percent,
    sats,
    scheduleFee,
    toBps,
    when
  }
})()
