// The workbench: who is signed in, the tabs their role may use (Alt+1..4), and what the
// tabs share (the catalogue in force, opening a dossier).

import { Api, loadConfig, session } from '/static/common/api.js';
import { $, $$ } from '/static/common/ui.js';
import { Counter } from './counter.js';
import { Dossier } from './dossier.js';
import { Overdue } from './overdue.js';
import { Queue } from './queue.js';
import { finishOidc, showSignIn, signOut } from './signin.js';

const config = await loadConfig();

class Workbench {
  constructor() {
    this.config = config;
    this.api = new Api(config, {
      onUnauthenticated: (result) => {
        if (result.data && result.data.problems
            && result.data.problems.some((p) => p.code === 'token_expired')) {
          session.clear();
          showSignIn(config, result);
        }
      },
    });
    this.catalog = null;
    this.tabs = {};
  }

  get me() {
    const kept = session.get();
    if (!kept) return null;
    const c = kept.claims;
    const role = config.roles[c.role] || { label: c.role, permissions: [] };
    return { user: c.sub, name: c.name || c.sub, role: c.role, roleLabel: role.label,
      agency: c.agency, permissions: new Set(role.permissions) };
  }

  may(permission) {
    const me = this.me;
    return Boolean(me && me.permissions.has(permission));
  }

  // The catalogue in force (intake's), once per load.
  async loadCatalog() {
    if (this.catalog) return this.catalog;
    const [agencies, procedures] = await Promise.all([
      this.api.call('intake', '/api/v1/catalog/agencies'),
      this.api.call('intake', '/api/v1/catalog/procedures'),
    ]);
    if (!agencies.ok || !procedures.ok) return { error: agencies.ok ? procedures : agencies };
    const agencyList = agencies.data.items;
    this.catalog = {
      version: procedures.data.version,
      agencies: agencyList,
      procedures: procedures.data.items,
      agency: new Map(agencyList.map((a) => [a.code, a])),
      procedure: new Map(procedures.data.items.map((p) => [p.code, p])),
    };
    return this.catalog;
  }

  // The caller's agency and every one under it (all of them for a national role).
  myAgencies() {
    const me = this.me;
    const list = this.catalog ? this.catalog.agencies : [];
    if (!me || me.agency === '*') return list;
    const parent = new Map(list.map((a) => [a.code, a.parent]));
    return list.filter((a) => {
      for (let code = a.code; code; code = parent.get(code)) if (code === me.agency) return true;
      return false;
    });
  }

  show(name) {
    for (const button of $$('#tabs button')) {
      const current = button.dataset.tab === name;
      if (current) button.setAttribute('aria-current', 'page');
      else button.removeAttribute('aria-current');
    }
    for (const section of $$('.tab')) section.hidden = section.id !== `tab-${name}`;
    const tab = this.tabs[name];
    if (tab && tab.shown) tab.shown();
    const heading = $(`#tab-${name} h2`);
    if (heading) {
      $('#page-title').textContent = `Bàn làm việc một cửa — ${heading.textContent}`;
      document.title = `${heading.textContent} — Bàn làm việc một cửa BHXH`;
    }
  }

  async openDossier(code) {
    this.show('dossier');
    await this.tabs.dossier.open(code);
  }

  async start() {
    if (config.auth.mode === 'oidc') {
      const returned = await finishOidc(config.auth);
      if (returned && !returned.ok) {
        showSignIn(config, returned);
        return;
      }
    }
    const me = this.me;
    if (!me) {
      showSignIn(config);
      return;
    }
    $('#who').hidden = false;
    $('#who-name').textContent = me.name;
    $('#who-role').textContent = me.roleLabel;
    $('#who-agency').textContent = me.agency === '*' ? 'Toàn quốc' : me.agency;
    $('#signout').onclick = () => signOut(config);
    await this.loadCatalog();
    if (this.catalog && this.catalog.agency.has(me.agency)) {
      $('#who-agency').textContent = this.catalog.agency.get(me.agency).name;
    }
    this.tabs = { counter: new Counter(this), queue: new Queue(this), dossier: new Dossier(this),
      overdue: new Overdue(this) };
    const nav = $('#tabs');
    nav.hidden = false;
    const usable = [];
    $$('#tabs button').forEach((button) => {
      button.hidden = !this.may(button.dataset.needs);
      if (!button.hidden) usable.push(button.dataset.tab);
      button.onclick = () => this.show(button.dataset.tab);
    });
    document.addEventListener('keydown', (event) => {
      if (!event.altKey || event.ctrlKey || event.metaKey) return;
      const name = ['counter', 'queue', 'dossier', 'overdue'][Number(event.key) - 1];
      if (name && usable.includes(name)) {
        event.preventDefault();
        this.show(name);
        const first = $(`#tab-${name} input, #tab-${name} select`);
        if (first) first.focus();
      }
    });
    this.show(usable.includes('counter') ? 'counter' : 'queue');
    document.body.dataset.ready = 'yes';
  }
}

window.workbench = new Workbench();
window.workbench.start();
