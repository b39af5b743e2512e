// Overdue dossiers of my tree: the responsible office's explanation and the apology and
// re-appointment letter, each answered where it was asked.

import { pdfTab } from '/static/common/api.js';
import { LABELS, STATE_VI } from '/static/common/labels.js';
import { $, clear, h, localToIso, showProblems, when } from '/static/common/ui.js';

export class Overdue {
  constructor(wb) {
    this.wb = wb;
    $('#overdue-filters').onsubmit = (event) => {
      event.preventDefault();
      this.load();
    };
  }

  async shown() {
    await this.wb.loadCatalog();
    await this.load();
  }

  async load() {
    const query = new URLSearchParams({ deadline: 'overdue', page_size: '100' });
    if ($('#o-unexplained').checked) query.set('explained', 'false');
    if (this.wb.me.agency !== '*') query.set('agency', this.wb.me.agency);
    const answer = await this.wb.api.call('processing', `/api/v1/cases?${query}`);
    const out = clear($('#overdue'));
    if (!showProblems($('#o-problems'), answer)) return;
    if (!answer.data.items.length) out.append(h('p', {}, 'Không có hồ sơ quá hạn.'));
    for (const c of answer.data.items) out.append(this.card(c));
  }

  card(c) {
    const code = c.code;
    const box = h('div', { class: 'problems', role: 'alert', tabindex: '-1', hidden: true });
    const cause = h('textarea', { rows: 2, maxlength: 2000, 'aria-label': `Nguyên nhân quá hạn của ${code}` });
    const reason = h('textarea', { rows: 2, maxlength: 2000, 'aria-label': `Lý do chậm (thư xin lỗi) của ${code}` });
    const newDue = h('input', { type: 'datetime-local', 'aria-label': `Ngày hẹn mới của ${code}` });
    const signer = h('input', { maxlength: 200, value: this.wb.me.name,
      'aria-label': `Người ký thư xin lỗi của ${code}` });
    const explain = async () => {
      const answer = await this.wb.api.call('processing',
        `/api/v1/cases/${encodeURIComponent(code)}/explanations`, { method: 'POST',
          json: { cause: cause.value.trim() } });
      if (showProblems(box, answer, { labels: LABELS, lead: 'Giải trình' })) {
        card.dataset.explained = 'yes';
        card.append(h('p', { class: 'ok' }, 'Đã ghi giải trình.'));
      }
    };
    const apologise = async () => {
      const tab = pdfTab();
      const answer = await this.wb.api.call('processing',
        `/api/v1/cases/${encodeURIComponent(code)}/apology`, { method: 'POST',
          json: { reason: reason.value.trim(), new_due_at: localToIso(newDue.value),
            signed_by: signer.value.trim() } });
      if (!showProblems(box, answer, { labels: LABELS, lead: 'Thư xin lỗi' })) {
        if (tab) tab.close();
        return;
      }
      await this.wb.api.openPdf('processing', `/api/v1/cases/${encodeURIComponent(code)}/apology.pdf`,
        tab);
    };
    const card = h('article', { class: 'card', dataset: { code } },
      h('h3', {}, h('button', { type: 'button', class: 'link',
        onclick: () => this.wb.openDossier(code) }, code),
      ` — ${STATE_VI[c.state] || c.state}, hạn ${when(c.due_at)}`,
      c.explained_at ? ` (giải trình ${when(c.explained_at)})` : ''),
      h('div', { class: 'row' },
        h('label', { class: 'wide' }, 'Nguyên nhân quá hạn', cause),
        h('button', { type: 'button', onclick: explain }, 'Gửi giải trình')),
      h('div', { class: 'row' },
        h('label', { class: 'wide' }, 'Lý do chậm', reason),
        h('label', {}, 'Hẹn trả mới', newDue),
        h('label', {}, 'Người ký', signer),
        h('button', { type: 'button', onclick: apologise }, 'Lập thư xin lỗi')),
      box);
    return card;
  }
}
