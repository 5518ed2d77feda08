// Building the DOM without HTML: every text goes through textContent, every attribute
// through setAttribute on an allow-list. console/README.md ("Rules for the JS") says
// why; tests/unit/no_sinks.test.mjs fails when src/ uses an HTML sink.

// Attributes h() may set. Anything that can carry a URL or script (href, src, style,
// on*) is not here: links go through hashLink() and fileLink(), images through
// viewer code that checks the URL first.
const ATTRS = new Set([
    'class', 'id', 'type', 'name', 'value', 'placeholder', 'title', 'role', 'for',
    'autocomplete', 'required', 'disabled', 'readonly', 'colspan', 'min', 'max',
    'step', 'tabindex', 'hidden', 'alt', 'width', 'height', 'lang', 'dir', 'selected',
    'checked', 'maxlength', 'pattern', 'spellcheck', 'autofocus', 'inputmode',
    'aria-label', 'aria-live', 'aria-current', 'aria-pressed', 'aria-busy',
    'aria-expanded', 'aria-hidden', 'aria-describedby', 'aria-invalid', 'data-testid',
    'data-file-id', 'data-page', 'data-state', 'data-format', 'data-category', 'data-count',
    'data-image-no', 'data-hold-id',
    'decoding', 'loading', 'draggable', 'scope',
]);

// h('button', {class: 'x', onclick: fn}, 'text', child, [more]) -> an element.
// Attribute values false/null/undefined are left out; true sets an empty attribute.
// Keys starting with "on" attach listeners (functions only). Children are nodes or
// strings (as text nodes); arrays are flattened; null/false are skipped.
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
        for (const [k, v] of Object.entries(attrs)) {
            if (k.startsWith('on')) {
                if (typeof v !== 'function') {
                    throw new TypeError(`h(): ${k} must be a function`);
                }
                el.addEventListener(k.slice(2), v);
            } else if (v === false || v === null || v === undefined) {
                continue;
            } else if (!ATTRS.has(k)) {
                throw new TypeError(`h(): attribute ${k} is not allowed`);
            } else {
                el.setAttribute(k, v === true ? '' : String(v));
            }
        }
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false) {
            continue;
        }
        if (Array.isArray(c)) {
            append(el, c);
        } else if (c instanceof Node) {
            el.appendChild(c);
        } else {
            el.appendChild(document.createTextNode(String(c)));
        }
    }
}

// Replaces @el's children by @children (same rules as h()).
export function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
}

// A link to a page of the console: @hash must be a route this code built ("#/...").
export function hashLink(hash, attrs, ...children) {
    if (typeof hash !== 'string' || !hash.startsWith('#/')) {
        throw new TypeError('hashLink(): not a console route');
    }
    const a = h('a', attrs, ...children);
    a.setAttribute('href', hash);
    return a;
}

// A link to a signed file link (checked by api.js's linkPath()), opened in a new tab
// or downloaded under the name the server's Content-Disposition gives.
export function fileLink(path, {download = false} = {}, attrs, ...children) {
    if (typeof path !== 'string' || !path.startsWith('/api/v1/links/')) {
        throw new TypeError('fileLink(): not a signed link path');
    }
    const a = h('a', attrs, ...children);
    a.setAttribute('href', path);
    a.setAttribute('rel', 'noopener noreferrer');
    if (download) {
        a.setAttribute('download', '');
    } else {
        a.setAttribute('target', '_blank');
    }
    return a;
}
