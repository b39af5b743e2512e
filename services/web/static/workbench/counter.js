// The counter: a dossier received with a form driven by the catalogue in force (the
// procedure's components, legal time and fees), completeness shown as the officer types,
// the data warehouse's documents offered for reuse; on receipt the receipt and appointment
// slip opens ready to print, on refusal the refusal slip.

import { pdfTab } from '/static/common/api.js';
import { FIELD_VI, LABELS, RETURN_VI, legalTime } from '/static/common/labels.js';
import { $, $$, clear, day, h, showProblems, when } from '/static/common/ui.js';

const FORMS = [
  ['paper', 'Bản giấy (quét tại quầy)'],
  ['electronic', 'Bản điện tử'],
  ['reused', 'Dùng lại từ kho dữ liệu'],
  ['absent', 'Chưa nộp'],
];

function today() {
  return new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Ho_Chi_Minh' });
}

export class Counter {
  constructor(wb) {
    this.wb = wb;
    this.form = $('#receive');
    this.box = $('#r-problems');
    this.warehouse = [];
    this.submission = crypto.randomUUID();
    this.ready = false;
  }

  async shown() {
    if (this.ready) return;
    this.ready = true;
    const catalog = await this.wb.loadCatalog();
    if (catalog.error) {
      showProblems(this.box, catalog.error);
      return;
    }
    const agencySelect = $('#r-agency');
    for (const a of this.wb.myAgencies()) {
      agencySelect.append(h('option', { value: a.code, selected: a.code === this.wb.me.agency },
        `${a.name} (${a.code})`));
    }
    agencySelect.onchange = () => this.fillProcedures();
    $('#r-procedure').onchange = () => this.fillComponents();
    $('#r-kind').onchange = () => this.kindChanged();
    $('#r-channel').onchange = () => this.channelChanged();
    for (const input of $$('input, select', this.form)) {
      input.addEventListener('input', () => this.completeness());
    }
    // The warehouse is asked once the number is whole, while the officer goes on typing.
    for (const id of ['#r-id-number', '#r-unit-code']) {
      $(id).addEventListener('input', () => {
        clearTimeout(this.pending);
        this.pending = setTimeout(() => this.lookWarehouse(), 300);
      });
    }
    this.form.onsubmit = (event) => {
      event.preventDefault();
      this.receive();
    };
    $('#r-refuse-open').onclick = () => {
      $('#r-refuse').hidden = false;
      $('#r-reasons').focus();
    };
    $('#r-refuse-send').onclick = () => this.refuse();
    $('#r-new').onclick = () => this.reset();
    this.fillProcedures();
  }

  procedure() {
    return this.wb.catalog.procedure.get($('#r-procedure').value);
  }

  fillProcedures() {
    const agency = this.wb.catalog.agency.get($('#r-agency').value);
    const select = clear($('#r-procedure'));
    const on = today();
    for (const p of this.wb.catalog.procedures) {
      const inForce = p.valid_from <= on && (!p.valid_to || p.valid_to >= on);
      const atLevel = !agency || !p.agency_levels || p.agency_levels.includes(agency.level);
      if (inForce && atLevel) select.append(h('option', { value: p.code }, `${p.code} — ${p.name}`));
    }
    this.fillComponents();
  }

  fillComponents() {
    const p = this.procedure();
    const facts = clear($('#r-procedure-facts'));
    const body = clear($('#r-components tbody'));
    if (!p) return;
    const kind = $('#r-kind').value;
    const variant = (p.variants || []).find((v) => v.submitter === kind);
    const fee = p.fee || p.fees;
    facts.append(
      h('dt', {}, 'Thời hạn giải quyết'), h('dd', { id: 'r-legal-time' },
        legalTime(variant ? variant.legal_time : p.legal_time), ` (${p.source})`),
      h('dt', {}, 'Phí, lệ phí'), h('dd', { id: 'r-fee' }, fee ? String(fee) : 'Không thu phí, lệ phí'),
      h('dt', {}, 'Kết quả'), h('dd', {}, p.result_type),
      h('dt', {}, 'Người nộp'), h('dd', {}, p.applicant_kinds.map((k) => (k === 'individual'
        ? 'cá nhân' : 'tổ chức')).join(', ')),
    );
    for (const c of p.components) {
      const select = h('select', { 'aria-label': `Hình thức nộp: ${c.name}`,
        dataset: { component: c.code, field: 'components' } },
      FORMS.map(([value, label]) => h('option', { value, selected: value === (c.required
        ? 'paper' : 'absent') }, label)));
      select.addEventListener('input', () => this.completeness());
      const reuse = h('select', { 'aria-label': `Tài liệu dùng lại: ${c.name}`,
        dataset: { reuse: c.code }, disabled: true }, h('option', { value: '' }, '—'));
      reuse.addEventListener('input', () => this.completeness());
      body.append(h('tr', { dataset: { component: c.code } },
        h('td', {}, h('strong', {}, c.code), ` ${c.name}`,
          c.required ? h('span', { class: 'badge' }, 'bắt buộc') : null),
        h('td', {}, select), h('td', {}, reuse)));
    }
    this.offerReuse();
    this.completeness();
  }

  kindChanged() {
    const kind = $('#r-kind').value;
    for (const el of $$('.individual', this.form)) el.hidden = kind !== 'individual';
    for (const el of $$('.organization', this.form)) el.hidden = kind !== 'organization';
    this.fillComponents();
  }

  channelChanged() {
    const channel = $('#r-channel').value;
    for (const el of $$('.postal-only', this.form)) el.hidden = channel !== 'postal';
    for (const el of $$('.online-only', this.form)) el.hidden = channel !== 'online';
    $('#r-return').value = channel;
    this.completeness();
  }

  applicant() {
    const kind = $('#r-kind').value;
    const common = { phone: $('#r-phone').value.trim() || undefined,
      email: $('#r-email').value.trim() || undefined };
    if (kind === 'organization') {
      return { kind, name: $('#r-org-name').value.trim(), unit_code: $('#r-unit-code').value.trim(),
        ...common };
    }
    return { kind, full_name: $('#r-full-name').value.trim(),
      id_number: $('#r-id-number').value.trim(),
      social_insurance_code: $('#r-si-code').value.trim() || undefined, ...common };
  }

  components() {
    return $$('#r-components tbody tr').map((row) => {
      const code = row.dataset.component;
      const form = $('select[data-component]', row).value;
      if (form === 'absent') return null;
      if (form === 'reused') {
        return { code, form: 'electronic', reused: true,
          document_ref: $('select[data-reuse]', row).value || undefined };
      }
      return { code, form };
    }).filter(Boolean);
  }

  // What is still missing, said as the officer types (the service decides on submit).
  completeness() {
    const p = this.procedure();
    const out = $('#r-complete');
    if (!p) return;
    const given = new Set(this.components().map((c) => c.code));
    const missing = p.components.filter((c) => c.required && !given.has(c.code))
      .map((c) => c.name);
    const a = this.applicant();
    if (a.kind === 'individual') {
      if (!a.full_name) missing.push('họ và tên người nộp');
      if (!/^[0-9]{9,12}$/.test(a.id_number)) missing.push('số CCCD (9–12 chữ số)');
    } else {
      if (!a.name) missing.push('tên đơn vị');
      if (!a.unit_code) missing.push('mã đơn vị');
    }
    if ($('#r-channel').value === 'postal' && !$('#r-tracking').value.trim()) {
      missing.push('số hiệu bưu gửi');
    }
    for (const row of $$('#r-components tbody tr')) {
      const reused = $('select[data-component]', row).value === 'reused';
      if (reused && !$('select[data-reuse]', row).value) {
        missing.push(`tài liệu dùng lại cho ${row.dataset.component}`);
      }
    }
    out.textContent = missing.length ? `Còn thiếu: ${missing.join('; ')}`
      : 'Hồ sơ đủ thành phần bắt buộc';
    out.dataset.complete = missing.length ? 'false' : 'true';
  }

  // The applicant's documents already held (digitization's warehouse, within my tree).
  async lookWarehouse() {
    const a = this.applicant();
    const number = a.kind === 'individual' ? a.id_number : a.unit_code;
    if (number === this.looked) return;
    this.looked = number;
    const out = clear($('#r-warehouse'));
    this.warehouse = [];
    if (!number || (a.kind === 'individual' && !/^[0-9]{9,12}$/.test(number))) {
      this.offerReuse();
      return;
    }
    const ref = await this.wb.api.call('intake', '/api/v1/applicants/ref', { method: 'POST',
      json: { kind: a.kind, number } });
    if (!ref.ok) return;
    const held = await this.wb.api.call('digitization',
      `/api/v1/warehouse/${encodeURIComponent(ref.data.applicant_ref)}/documents`);
    if (held.status === 404) {
      out.append(h('p', {}, 'Kho dữ liệu chưa có tài liệu nào của người nộp.'));
    } else if (held.ok) {
      this.warehouse = held.data.documents;
      out.append(h('p', {}, `Kho dữ liệu có ${this.warehouse.length} tài liệu của người nộp:`),
        h('ul', {}, this.warehouse.map((d) => h('li', {},
          `${d.document_ref} — ${d.component_code || d.document_type || 'tài liệu'}`,
          d.dossier_code ? ` (hồ sơ ${d.dossier_code})` : '',
          d.valid === true ? ' · chữ ký số hợp lệ' : ''))));
    }
    this.offerReuse();
  }

  offerReuse() {
    for (const row of $$('#r-components tbody tr')) {
      const code = row.dataset.component;
      const select = $('select[data-reuse]', row);
      clear(select).append(h('option', { value: '' }, '—'));
      const docs = this.warehouse.filter((d) => !d.component_code || d.component_code === code);
      for (const d of docs) select.append(h('option', { value: d.document_ref }, d.document_ref));
      select.disabled = docs.length === 0;
      const form = $('select[data-component]', row);
      const option = $('option[value="reused"]', form);
      option.disabled = docs.length === 0;
    }
    this.completeness();
  }

  body() {
    const channel = $('#r-channel').value;
    const body = {
      agency_code: $('#r-agency').value, procedure_code: $('#r-procedure').value, channel,
      return_channel: $('#r-return').value, applicant: this.applicant(),
      components: this.components(), submission_id: this.submission,
    };
    if (channel === 'postal') body.postal_tracking_number = $('#r-tracking').value.trim();
    if (channel === 'online') body.portal_account = $('#r-portal').value.trim();
    return body;
  }

  async receive() {
    const tab = pdfTab();
    const answer = await this.wb.api.call('intake', '/api/v1/dossiers', { method: 'POST',
      json: this.body() });
    if (!showProblems(this.box, answer, { form: this.form, labels: { ...LABELS, ...FIELD_VI },
      lead: 'Chưa tiếp nhận được' })) {
      if (tab) tab.close();
      return;
    }
    await this.done(answer.data, 'receipt.pdf', tab, 'Đã tiếp nhận hồ sơ');
  }

  async refuse() {
    const reasons = $('#r-reasons').value.split('\n').map((line) => line.trim()).filter(Boolean)
      .map((text, i) => ({ code: `tu_choi_${i + 1}`, message_vi: text,
        message_en: `refused at the counter: ${text}`, field: 'components' }));
    const tab = pdfTab();
    const answer = await this.wb.api.call('intake', '/api/v1/refusals', { method: 'POST',
      json: { ...this.body(), reasons } });
    if (!showProblems(this.box, answer, { form: this.form, labels: { ...LABELS, ...FIELD_VI },
      lead: 'Chưa từ chối được' })) {
      if (tab) tab.close();
      return;
    }
    await this.done(answer.data, 'refusal.pdf', tab, 'Đã từ chối tiếp nhận hồ sơ');
  }

  async done(dossier, slip, tab, title) {
    const out = clear($('#r-done'));
    const code = dossier.dossier_code;
    const slipName = slip === 'receipt.pdf' ? 'Giấy tiếp nhận hồ sơ và hẹn trả kết quả'
      : 'Phiếu từ chối tiếp nhận hồ sơ';
    const link = h('a', { id: 'r-slip-link', target: '_blank', rel: 'noopener' }, `Mở lại: ${slipName}`);
    out.append(h('h3', {}, title),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Mã hồ sơ'), h('dd', { id: 'r-code' }, code),
        h('dt', {}, 'Ngày tiếp nhận'), h('dd', {}, when(dossier.received_at)),
        h('dt', {}, 'Ngày hẹn trả kết quả'), h('dd', { id: 'r-due' }, day(dossier.due_at)),
        h('dt', {}, 'Trả kết quả'), h('dd', {}, RETURN_VI[dossier.return_channel] || '')),
      h('p', {}, link, ' ',
        h('button', { type: 'button', onclick: () => this.wb.openDossier(code) },
          'Mở hồ sơ (quét thành phần)')));
    out.hidden = false;
    out.dataset.code = code;
    const opened = await this.wb.api.openPdf('intake',
      `/api/v1/dossiers/${encodeURIComponent(code)}/${slip}`, tab);
    if (opened.ok) {
      link.href = opened.url;
      out.dataset.slip = slip;
    } else {
      showProblems(this.box, opened, { lead: slipName });
    }
    out.focus();
  }

  reset() {
    this.form.reset();
    this.submission = crypto.randomUUID();
    this.warehouse = [];
    this.looked = null;
    clear($('#r-warehouse'));
    $('#r-done').hidden = true;
    $('#r-refuse').hidden = true;
    showProblems(this.box, null, { form: this.form });
    this.kindChanged();
    this.channelChanged();
    const agency = $('#r-agency');
    agency.value = this.wb.me.agency;
    this.fillProcedures();
    $('#r-procedure').focus();
  }
}
