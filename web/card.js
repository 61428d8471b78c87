/*
 * card.js — renders a model card (the Markdown file beside a model's
 * weights, GET /v1/models/{name}/card) as DOM nodes for the Models view.
 *
 * A card is text from the server's disk, so it is never handed to the HTML
 * parser: every element here is made with createElement from a fixed set
 * (headings, paragraphs, lists, block quotes, code, tables, emphasis,
 * links), and every piece of the card's text goes in as a text node. Markup
 * in a card (<script>, <img onerror=…>) therefore shows as the characters it
 * is. Links become <a> only for http:, https: and mailto: addresses; others
 * (javascript:, relative paths into a repository the page cannot see) stay
 * text. Images are shown as their alt text: the page loads nothing from
 * elsewhere.
 *
 * The subset is what the shipped cards use (GitHub-flavoured tables with
 * alignment and \| in cells, fenced and indented code, ATX headings, lists,
 * **strong**, *em*, `code`); every scan moves forward, so a hostile card of
 * the server's 256 KiB bound renders in linear time.
 */
'use strict';

/* renderCard(text) -> DocumentFragment */
const renderCard = (() => {
	const h = (tag, cls, ...kids) => {
		const e = document.createElement(tag);
		if (cls) e.className = cls;
		for (const k of kids.flat()) e.append(k);
		return e;
	};

	const SAFE_URL = /^(https?:\/\/|mailto:)/i;
	const PUNCT = /[!-/:-@[-`{-~]/;

	/* Inline Markdown of one block's text -> array of nodes. `fails`
	 * remembers openers with no closer after some position, so that each is
	 * searched for once. */
	function inline(s) {
		const out = [];
		const fails = {};
		let buf = '';
		const flush = () => {
			if (buf) out.push(document.createTextNode(buf));
			buf = '';
		};
		/* The first index >= from where close occurs, or -1 (memoised). */
		const find = (close, from) => {
			if (fails[close] !== undefined && from >= fails[close]) return -1;
			const j = s.indexOf(close, from);
			if (j < 0) fails[close] = from;
			return j;
		};
		let i = 0;
		while (i < s.length) {
			const c = s[i];
			if (c === '\\' && i + 1 < s.length && PUNCT.test(s[i + 1])) {
				buf += s[i + 1];
				i += 2;
				continue;
			}
			if (c === '\\' && s[i + 1] === '\n') {
				flush();
				out.push(document.createElement('br'));
				i += 2;
				continue;
			}
			if (c === '`') {
				let n = 1;
				while (s[i + n] === '`') n++;
				const run = '`'.repeat(n);
				const j = find(run, i + n);
				if (j >= 0) {
					flush();
					let code = s.slice(i + n, j).replace(/\n/g, ' ');
					if (/^ .* $/.test(code) && code.trim()) code = code.slice(1, -1);
					out.push(h('code', null, code));
					i = j + n;
				} else {
					buf += run;
					i += n;
				}
				continue;
			}
			if (c === '*' || c === '_') {
				const n = s[i + 1] === c ? 2 : 1;
				const run = c.repeat(n);
				const prev = i > 0 ? s[i - 1] : ' ';
				const next = s[i + n] || ' ';
				/* an opener is followed by a non-space; '_' also needs no
				 * letter or digit before it (snake_case stays text) */
				const opens = !/\s/.test(next) && next !== c && !(c === '_' && /[\p{L}\p{N}]/u.test(prev));
				const j = opens ? find(run, i + n + 1) : -1;
				const after = j >= 0 ? s[j + n] || ' ' : ' ';
				if (j >= 0 && !/\s/.test(s[j - 1]) && !(c === '_' && /[\p{L}\p{N}]/u.test(after))) {
					flush();
					out.push(h(n === 2 ? 'strong' : 'em', null, inline(s.slice(i + n, j))));
					i = j + n;
				} else {
					buf += run;
					i += n;
				}
				continue;
			}
			if (c === '[' || (c === '!' && s[i + 1] === '[')) {
				const img = c === '!';
				const open = i + (img ? 2 : 1);
				const close = find(']', open);
				if (close >= 0 && s[close + 1] === '(') {
					/* the address ends at the ) that balances its own ( */
					let end = -1;
					const any = find(')', close + 2);
					for (let j = close + 2, depth = 0; any >= 0 && j < s.length && j < close + 512 && s[j] !== '\n'; j++) {
						if (s[j] === '\\') j++;
						else if (s[j] === '(') depth++;
						else if (s[j] === ')' && depth-- === 0) {
							end = j;
							break;
						}
					}
					if (end >= 0) {
						const label = s.slice(open, close);
						const url = s.slice(close + 2, end).trim().split(/\s+/)[0] || '';
						flush();
						if (img) out.push(h('span', 'card-image', `[image: ${label}]`));
						else if (SAFE_URL.test(url)) {
							const a = h('a', null, inline(label));
							a.href = url;
							a.target = '_blank';
							a.rel = 'noopener noreferrer';
							out.push(a);
						} else out.push(...inline(label));
						i = end + 1;
						continue;
					}
				}
				buf += img ? '![' : '[';
				i = open;
				continue;
			}
			if (c === '<') {
				const m = /^<((?:https?:\/\/|mailto:)[^\s<>]*)>/i.exec(s.slice(i, i + 2048));
				if (m) {
					flush();
					const a = h('a', null, m[1]);
					a.href = m[1];
					a.target = '_blank';
					a.rel = 'noopener noreferrer';
					out.push(a);
					i += m[0].length;
					continue;
				}
			}
			if (c === '\n') {
				/* two trailing spaces: a hard break; else a space */
				if (buf.endsWith('  ')) {
					buf = buf.replace(/ +$/, '');
					flush();
					out.push(document.createElement('br'));
				} else buf = buf.replace(/ +$/, '') + ' ';
				i++;
				continue;
			}
			buf += c;
			i++;
		}
		flush();
		return out;
	}

	/* Table cells of a row: split at | not escaped by \ (\| is a literal
	 * bar, as in GitHub's tables), outer bars dropped. */
	function cells(line) {
		let t = line.trim();
		if (t.startsWith('|')) t = t.slice(1);
		if (t.endsWith('|') && !t.endsWith('\\|')) t = t.slice(0, -1);
		const out = [];
		let cur = '';
		for (let i = 0; i < t.length; i++) {
			if (t[i] === '\\' && t[i + 1] === '|') {
				cur += '|';
				i++;
			} else if (t[i] === '|') {
				out.push(cur.trim());
				cur = '';
			} else cur += t[i];
		}
		out.push(cur.trim());
		return out;
	}

	const DELIM = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
	const isDelim = (l) => l !== undefined && l.includes('-') && DELIM.test(l) && (l.includes('|') || /:/.test(l));
	const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
	const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
	const BULLET = /^ {0,3}([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
	const RULE = /^ {0,3}([-*_])[ \t]*(\1[ \t]*){2,}$/;
	const QUOTE = /^ {0,3}> ?(.*)$/;
	const blank = (l) => /^\s*$/.test(l);

	function table(rows, align) {
		const alignOf = (k) => (align[k] && align[k] !== 'left' ? align[k] : null);
		const head = rows[0];
		const t = h('table', 'grid card-table');
		/* GitHub tables with an empty header row (| | |) are key/value lists */
		if (head.some((c) => c !== ''))
			t.append(
				h(
					'thead',
					null,
					h(
						'tr',
						null,
						head.map((c, k) => {
							const th = h('th', null, inline(c));
							if (alignOf(k)) th.className = 'align-' + alignOf(k);
							return th;
						}),
					),
				),
			);
		const body = h('tbody');
		for (const r of rows.slice(1)) {
			const tr = h('tr');
			for (let k = 0; k < head.length; k++) {
				const td = h('td', null, inline(r[k] || ''));
				if (alignOf(k)) td.className = 'align-' + alignOf(k);
				tr.append(td);
			}
			body.append(tr);
		}
		t.append(body);
		return t;
	}

	/* Block structure of lines -> nodes appended to parent. */
	function blocks(lines, parent) {
		let i = 0;
		while (i < lines.length) {
			const l = lines[i];
			let m;
			if (blank(l)) {
				i++;
				continue;
			}
			if ((m = FENCE.exec(l))) {
				const fence = m[1];
				const body = [];
				i++;
				while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
				i++;
				parent.append(h('pre', 'card-code', h('code', null, body.join('\n'))));
				continue;
			}
			if (/^( {4}|\t)/.test(l)) {
				const body = [];
				while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || (blank(lines[i]) && /^( {4}|\t)/.test(lines[i + 1] || '')))) body.push(lines[i++].replace(/^( {4}|\t)/, ''));
				parent.append(h('pre', 'card-code', h('code', null, body.join('\n'))));
				continue;
			}
			if ((m = HEADING.exec(l))) {
				const level = Math.min(6, m[1].length + 2);
				parent.append(h('h' + level, 'card-heading', inline(m[2] || '')));
				i++;
				continue;
			}
			if (RULE.test(l)) {
				parent.append(h('hr'));
				i++;
				continue;
			}
			if (l.includes('|') && isDelim(lines[i + 1])) {
				const head = cells(l);
				const align = cells(lines[i + 1]).map((d) => (/^:-+:$/.test(d) ? 'center' : /-:$/.test(d) ? 'right' : /^:/.test(d) ? 'left' : null));
				const rows = [head];
				i += 2;
				while (i < lines.length && !blank(lines[i]) && lines[i].includes('|')) rows.push(cells(lines[i++]));
				parent.append(table(rows, align));
				continue;
			}
			if (QUOTE.test(l)) {
				const body = [];
				while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
					body.push(m[1]);
					i++;
				}
				const q = h('blockquote', 'card-quote');
				blocks(body, q);
				parent.append(q);
				continue;
			}
			if ((m = BULLET.exec(l))) {
				const ordered = /\d/.test(m[1]);
				const list = h(ordered ? 'ol' : 'ul', 'card-list');
				if (ordered && parseInt(m[1], 10) !== 1) list.start = parseInt(m[1], 10);
				while (i < lines.length && (m = BULLET.exec(lines[i])) && /\d/.test(m[1]) === ordered) {
					const text = [m[2]];
					i++;
					/* continuation lines: indented, or a lazy paragraph line */
					while (i < lines.length && !blank(lines[i]) && !BULLET.exec(lines[i]) && (/^\s/.test(lines[i]) || !HEADING.test(lines[i]))) text.push(lines[i++].trim());
					list.append(h('li', null, inline(text.join('\n'))));
					if (i < lines.length && blank(lines[i]) && BULLET.test(lines[i + 1] || '')) i++;
				}
				parent.append(list);
				continue;
			}
			const para = [];
			while (i < lines.length && !blank(lines[i]) && !HEADING.test(lines[i]) && !FENCE.test(lines[i]) && !RULE.test(lines[i]) && !QUOTE.test(lines[i]) && !BULLET.test(lines[i]) && !(lines[i].includes('|') && isDelim(lines[i + 1]))) para.push(lines[i++]);
			if (!para.length) para.push(lines[i++]);
			parent.append(h('p', null, inline(para.join('\n').trim())));
		}
	}

	return function renderCard(text) {
		const frag = document.createDocumentFragment();
		blocks(String(text).replace(/\r\n?/g, '\n').split('\n'), frag);
		return frag;
	};
})();
