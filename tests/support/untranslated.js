// English left on a page shown in another language, run in it by the browser
// tests (see untranslated() in browser_site.py). Reads this extension's own
// dictionary from the page (window.SatMachineMessages) and reports every visible
// text of the extension (its page, dialogs, menus, tooltips and notifications;
// not LNbits' own frame) that is an English string whose translation differs, or
// holds one as a whole phrase of two words or more. {named} values match any
// text. Returns [{text, english, key}].
language => {
  const messages = window.SatMachineMessages || {}
  const english = messages.en || {}
  const translated = messages[language] || {}
  const escape = text => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  // {'@'} is vue-i18n's literal: the page shows what is inside.
  const shown = text => text.replace(/\{'([^']*)'\}/g, '$1')
  const phrase = text =>
    shown(text)
      .split(/\{\w+\}/)
      .map(part => escape(part.replace(/\s+/g, ' ')))
      .join('.+?')
  const checks = []
  for (const [key, text] of Object.entries(english)) {
    if (!translated[key] || translated[key] === text) continue
    const literal = shown(text).replace(/\{\w+\}/g, '').trim()
    if (!/[A-Za-z]{2}/.test(literal)) continue // only values and signs
    const source = phrase(text)
    const whole = new RegExp(`^${source}$`)
    // A single word inside a longer text is too often a name or a code.
    const words = literal.split(/\s+/).filter(Boolean).length
    const inside = words >= 2 ? new RegExp(`(^|[^\\p{L}])${source}($|[^\\p{L}])`, 'u') : null
    checks.push({key, english: text, whole, inside})
  }

  const visible = el => {
    if (!el || !el.getClientRects().length) return false
    const style = getComputedStyle(el)
    return style.visibility !== 'hidden' && style.display !== 'none'
  }
  const roots = document.querySelectorAll(
    '.q-page-container, .q-dialog, .q-menu, .q-tooltip, .q-notifications'
  )
  const texts = new Set()
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.replace(/\s+/g, ' ').trim()
      if (text && /[A-Za-z]/.test(text) && visible(node.parentElement)) texts.add(text)
    }
    // A text split over elements ("Paired: <b>name</b>") is also read whole.
    for (const el of root.querySelectorAll('div, span, label, td, th, p, h5, h6')) {
      if (!el.children.length || !visible(el)) continue
      const text = (el.innerText || '').replace(/\s+/g, ' ').trim()
      if (text && text.length < 400) texts.add(text)
    }
  }
  const found = []
  for (const text of texts) {
    for (const check of checks) {
      if (check.whole.test(text) || (check.inside && check.inside.test(text))) {
        found.push({text: text.slice(0, 120), english: check.english, key: check.key})
      }
    }
  }
  return found
}
