// Processing's queues: mine, my department's, my agency's, with due time and near-due /
// overdue marked; a row opens its case (Enter or a click).

import { DEADLINE_VI, STATE_VI } from '/static/common/labels.js';
import { $, clear, h, showProblems, when } from '/static/common/ui.js';

export class Queue {
  constructor(wb) {
    this.wb = wb;
    this.ready = false;
  }

  async shown() {
    if (!this.ready) {
      this.ready = true;
      const catalog = await this.wb.loadCatalog();
      const departments = new Set();
      for (const p of catalog.procedures || []) for (const s of p.steps) departments.add(s.department);
      const select = $('#q-department');
      for (const d of [...departments].sort()) select.append(h('option', { value: d }, d));
      const states = $('#q-state');
      for (const [value, label] of Object.entries(STATE_VI)) {
        states.append(h('option', { value }, label));
      }
      $('#q-scope').value = this.wb.may('case:process') && !this.wb.may('case:decide')
        ? 'mine' : 'agency';
      $('#queue-filters').onsubmit = (event) => {
        event.preventDefault();
        this.load();
      };
    }
    await this.load();
  }

  async load() {
    const me = this.wb.me;
    const query = new URLSearchParams({ page_size: '100' });
    const scope = $('#q-scope').value;
    if (scope === 'mine') query.set('officer', me.name);
    if ($('#q-department').value) query.set('department', $('#q-department').value);
    if ($('#q-state').value) query.set('state', $('#q-state').value);
    if ($('#q-deadline').value) query.set('deadline', $('#q-deadline').value);
    if (me.agency !== '*') query.set('agency', me.agency);
    const answer = await this.wb.api.call('processing', `/api/v1/cases?${query}`);
    const body = clear($('#queue tbody'));
    if (!showProblems($('#q-problems'), answer)) return;
    if (!answer.data.items.length) {
      body.append(h('tr', {}, h('td', { colspan: 7 }, 'Không có hồ sơ nào.')));
    }
    const procedures = this.wb.catalog ? this.wb.catalog.procedure : new Map();
    for (const c of answer.data.items) {
      const procedure = procedures.get(c.procedure_code);
      const mark = c.deadline ? h('span', { class: `mark ${c.deadline}` }, DEADLINE_VI[c.deadline])
        : null;
      const open = () => this.wb.openDossier(c.code);
      body.append(h('tr', { dataset: { code: c.code, deadline: c.deadline || '' } },
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: open }, c.code)),
        h('td', {}, procedure ? procedure.name : c.procedure_code),
        h('td', {}, STATE_VI[c.state] || c.state),
        h('td', {}, c.current_step ? `${c.current_step}${c.department ? ` — ${c.department}` : ''}`
          : '—'),
        h('td', {}, c.holder || '—'),
        h('td', {}, when(c.due_at)),
        h('td', {}, mark, c.explained_at ? ' (đã giải trình)' : '')));
    }
  }
}
