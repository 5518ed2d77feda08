// Tenant administration (docs/console.md "Administering a tenant"): loaded on demand
// when a page under #/admin/ opens; shown to users with the admin permission and to
// the operator (GET /api/v1/auth/me). The node checks every call anyway.
import {fill, h} from '../../dom.js';
import {t} from '../../i18n.js';
import {session} from '../../session.js';
import {notAllowed} from '../bills.js';
import {renderClients} from './clients.js';
import {renderDatasources} from './datasources.js';
import {renderMigrations} from './migrations.js';
import {renderOrgs} from './orgs.js';
import {renderRoles} from './roles.js';
import {renderCategories, renderTypes} from './setup.js';
import {renderTenants} from './tenants.js';
import {renderAudit, renderLicense, renderUsage} from './usage.js';
import {renderUser, renderUsers} from './users.js';
import {renderWebhooks} from './webhooks.js';

const PAGES = {
    users: (r, el) => (r.params.arg ? renderUser(r, el) : renderUsers(r, el)),
    roles: renderRoles,
    orgs: renderOrgs,
    clients: renderClients,
    webhooks: renderWebhooks,
    types: renderTypes,
    categories: renderCategories,
    usage: renderUsage,
    license: renderLicense,
    audit: renderAudit,
    tenants: renderTenants,
    datasources: renderDatasources,
    migrations: renderMigrations,
};

export function renderAdmin(route, el) {
    const s = session.current();
    document.title = t('adm_nav') + ' · imgarc';
    if (!s || !s.admin) {
        fill(el, h('h1', null, t('adm_nav')), notAllowed('admin'));
        return;
    }
    const page = PAGES[route.params.page];
    if (!page || (route.params.page === 'tenants' && s.kind !== 'operator')) {
        fill(el, h('h1', null, t('not_found_title')), h('p', null, t('not_found_text')));
        return;
    }
    page(route, el);
}
