// The signed-in user: the access token and who it is, kept in sessionStorage (one
// tab, survives a reload, gone with the tab; never localStorage: console-design.md
// section 4). The last tenant signed in to is remembered in localStorage (not secret).

const KEY = 'imgarc.session';
const TENANT_KEY = 'imgarc.tenant';

// What each built-in role allows (docs/API.md "Users and roles"), used only when the
// node has no GET /api/v1/auth/me; custom roles are then unknown and allow "read".
const BUILT_IN = {
    scanner: ['read', 'capture', 'submit'],
    reviewer: ['read', 'review'],
    tenant_admin: ['read', 'capture', 'edit', 'delete', 'amend', 'submit', 'match',
                   'review', 'admin', 'hold'],
};

export function permissionsOf(roles) {
    const out = new Set();
    for (const r of roles || []) {
        for (const p of BUILT_IN[r] || ['read']) {
            out.add(p);
        }
    }
    return [...out].sort();
}

function load() {
    try {
        const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
        return s && typeof s.token === 'string' ? s : null;
    } catch {
        return null;
    }
}

export const session = {
    current: load,
    token() {
        const s = load();
        return s ? s.token : null;
    },
    // @login: the POST /auth/login answer.
    start(login) {
        const s = {
            token: login.access_token,
            tenant: login.tenant,
            username: login.username,
            name: login.username,
            roles: login.roles || [],
            permissions: permissionsOf(login.roles),
            admin: (login.roles || []).includes('tenant_admin'),
            kind: login.kind || 'user',
            expires: Date.now() + 1000 * (Number(login.expires_in) || 3600),
        };
        sessionStorage.setItem(KEY, JSON.stringify(s));
        try {
            localStorage.setItem(TENANT_KEY, login.tenant);
        } catch {
            // storage refused (private mode): the tenant is typed again next time
        }
        return s;
    },
    // @me: the GET /auth/me answer; refines what start() guessed from the roles.
    update(me) {
        const s = load();
        if (!s || !me || typeof me !== 'object') {
            return s;
        }
        if (typeof me.name === 'string' && me.name !== '') {
            s.name = me.name;
        }
        if (Array.isArray(me.roles)) {
            s.roles = me.roles;
        }
        if (Array.isArray(me.permissions)) {
            s.permissions = me.permissions;
        }
        if (Array.isArray(me.grants)) {
            s.grants = me.grants;
        }
        if (typeof me.admin === 'boolean') {
            s.admin = me.admin;
        }
        s.kind = me.kind;
        s.me = true;
        sessionStorage.setItem(KEY, JSON.stringify(s));
        return s;
    },
    end() {
        sessionStorage.removeItem(KEY);
    },
    // The operator's tenant (sent as ?tenant= by api.js).
    setTenant(tenant) {
        const s = load();
        if (s && s.kind === 'operator') {
            s.tenant = tenant;
            sessionStorage.setItem(KEY, JSON.stringify(s));
        }
    },
    can(permission) {
        const s = load();
        return !!s && (s.admin || s.permissions.includes(permission));
    },
    lastTenant() {
        try {
            return localStorage.getItem(TENANT_KEY) || '';
        } catch {
            return '';
        }
    },
};
