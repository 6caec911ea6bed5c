// What a person would see wrong on a page, run in it by the browser tests
// (test_browser_layout.py): horizontal overflow of the page or of a table, a
// visible 32-hex id, and table text below a contrast of 4.5:1. Backgrounds are
// composited from the text's element up to the page (a highlight is a
// translucent colour over the card); the ratio is WCAG's.
() => {
  const problems = []
  const root = document.documentElement
  if (root.scrollWidth > root.clientWidth + 1) {
    const wide = [...document.body.querySelectorAll('*')]
      .filter(el => el.getBoundingClientRect().right > root.clientWidth + 1)
      .slice(-3)
      .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`)
    problems.push(`page overflows: ${root.scrollWidth} > ${root.clientWidth} (${wide})`)
  }
  const visible = el => el.offsetParent !== null && el.getClientRects().length
  for (const middle of document.querySelectorAll('.q-table__middle')) {
    if (!visible(middle)) continue
    if (middle.scrollWidth > middle.clientWidth + 1) {
      const owner = middle.closest('[data-test], [data-testid]')
      const name = owner
        ? owner.getAttribute('data-test') || owner.getAttribute('data-testid')
        : middle.innerText.slice(0, 40)
      const widths = [...middle.querySelectorAll('tr:last-child > td, thead th')]
        .map(cell => `${cell.innerText.trim().slice(0, 12)}:${Math.round(cell.offsetWidth)}`)
      const edge = middle.getBoundingClientRect().right + 1
      const beyond = [...middle.querySelectorAll('*')]
        .filter(el => el.getBoundingClientRect().right > edge ||
          (el.clientWidth && el.scrollWidth > el.clientWidth + 1))
        .slice(0, 10)
        .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}:${el.scrollWidth}/${el.clientWidth}`)
      problems.push(
        `table ${name} overflows: ${middle.scrollWidth} > ${middle.clientWidth} ` +
          `(${widths}; beyond: ${beyond})`
      )
    }
  }
  const hex = (document.body.innerText.match(/\b[0-9a-f]{32}\b/gi) || [])
  for (const id of hex) problems.push(`a hex id is visible: ${id}`)

  const rgba = text => {
    const m = text.match(/rgba?\(([^)]+)\)/)
    if (!m) return [0, 0, 0, 0]
    const parts = m[1].split(/[ ,/]+/).filter(Boolean).map(Number)
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1]
  }
  const over = (top, bottom) => {
    const a = top[3]
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1])
  }
  const background = el => {
    const layers = []
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor)
      if (colour[3] > 0) layers.push(colour)
      if (colour[3] >= 1) break
    }
    let result = [255, 255, 255, 1]
    for (const layer of layers.reverse()) result = over(layer, result)
    return result
  }
  const luminance = c => {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4)
    })
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
    return (hi + 0.05) / (lo + 0.05)
  }
  let checked = 0
  for (const cell of document.querySelectorAll('.q-table td')) {
    if (!visible(cell)) continue
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT)
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      if (!text.textContent.trim()) continue
      const el = text.parentElement
      if (!visible(el)) continue
      const bg = background(el)
      const fg = over(rgba(getComputedStyle(el).color), bg)
      const found = ratio(fg, bg)
      checked += 1
      if (found < 4.5) {
        problems.push(`contrast ${found.toFixed(2)} for "${text.textContent.trim().slice(0, 30)}"`)
      }
    }
  }
  return {problems, checked}
}
