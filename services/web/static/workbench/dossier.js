// One dossier, as the three services that hold it know it: intake's receipt and slips (and
// the counter's supplements and withdrawal), digitization's components (scan upload per
// component, the signed PDF shown), processing's case (path, step, due time, declared-vs-
// scanned mismatches, documents, the allowed actions as buttons, the control slip), and the
// counter survey of a returned dossier. Every answer is shown where the officer acted.

import { pdfTab } from '/static/common/api.js';
import {
  ACTION_VI, CHANNEL_VI, DEADLINE_VI, LABELS, RETURN_VI, STATE_VI, STATUS_VI,
} from '/static/common/labels.js';
import { $, clear, day, h, localToIso, showProblems, when } from '/static/common/ui.js';

// The fields each officer action sends (processing's workflow payloads).
const ACTION_FORMS = {
  claim: [],
  complete_step: [
    { name: 'decision', label: 'Đề xuất', type: 'select',
      options: [['approve', 'Đồng ý giải quyết'], ['deny', 'Không giải quyết']] },
    { name: 'comment', label: 'Ý kiến', type: 'textarea' }],
  return_to_step: [
    { name: 'step', label: 'Trả về bước số', type: 'number' },
    { name: 'comment', label: 'Lý do trả về', type: 'textarea' }],
  request_supplement: [
    { name: 'items', label: 'Nội dung cần bổ sung (mỗi dòng: MÃ THÀNH PHẦN: nội dung)',
      type: 'items' }],
  ask_agency: [
    { name: 'agency', label: 'Cơ quan phối hợp' },
    { name: 'sub_due_at', label: 'Hạn trả lời', type: 'datetime-local' },
    { name: 'question', label: 'Nội dung đề nghị', type: 'textarea' }],
  record_agency_answer: [{ name: 'answer_summary', label: 'Tóm tắt trả lời', type: 'textarea' }],
  stop: [
    { name: 'notice', label: 'Số, ngày thông báo dừng xử lý' },
    { name: 'reasons', label: 'Lý do (mỗi dòng một lý do)', type: 'reasons' }],
  approve: [{ name: 'comment', label: 'Ý kiến phê duyệt', type: 'textarea' }],
  deny: [
    { name: 'reasons', label: 'Lý do không giải quyết (mỗi dòng một lý do)', type: 'reasons' },
    { name: 'comment', label: 'Ý kiến', type: 'textarea' }],
  issue_result: [{ name: 'result_code', label: 'Số văn bản kết quả' }],
  record_return: [
    { name: 'return_channel', label: 'Hình thức trả', type: 'select',
      options: Object.entries(RETURN_VI) },
    { name: 'postal_tracking_number', label: 'Số hiệu bưu gửi (bưu chính)' },
    { name: 'portal_account', label: 'Tài khoản Cổng DVC (trực tuyến)' }],
};
const SLIPS = {
  'receipt.pdf': ['Giấy tiếp nhận và hẹn trả kết quả', ['received', 'awaiting_supplement', 'withdrawn']],
  'supplement-request.pdf': ['Phiếu yêu cầu bổ sung', ['awaiting_supplement']],
  'refusal.pdf': ['Phiếu từ chối tiếp nhận', ['refused']],
};

function lines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

function reasons(text) {
  return lines(text).map((line, i) => ({ code: `ly_do_${i + 1}`, message_vi: line,
    message_en: line }));
}

function items(text) {
  return lines(text).map((line) => {
    const [head, ...rest] = line.split(':');
    return rest.length ? { component_code: head.trim(), problem_vi: rest.join(':').trim() }
      : { problem_vi: line };
  });
}

function box() {
  return h('div', { class: 'problems', role: 'alert', tabindex: '-1', hidden: true });
}

export class Dossier {
  constructor(wb) {
    this.wb = wb;
    this.code = null;
    $('#open-dossier').onsubmit = (event) => {
      event.preventDefault();
      this.open($('#d-code').value.trim());
    };
  }

  shown() {
    if (!this.code) $('#d-code').focus();
  }

  async open(code) {
    if (!code) return;
    this.code = code;
    $('#d-code').value = code;
    // Busy from the submit on: what is on screen is about to be drawn again, and a form
    // opened on it now would be drawn away (assistive technology and tests wait for it).
    $('#dossier').setAttribute('aria-busy', 'true');
    try {
      await this.wb.loadCatalog();
      await this.refresh();
    } finally {
      $('#dossier').setAttribute('aria-busy', 'false');
    }
  }

  async refresh() {
    $('#dossier').setAttribute('aria-busy', 'true');
    try {
      await this.draw();
    } finally {
      $('#dossier').setAttribute('aria-busy', 'false');
    }
  }

  async draw() {
    const code = encodeURIComponent(this.code);
    const api = this.wb.api;
    const [intake, digitized, kase] = await Promise.all([
      api.call('intake', `/api/v1/dossiers/${code}`),
      api.call('digitization', `/api/v1/dossiers/${code}`),
      api.call('processing', `/api/v1/cases/${code}`),
    ]);
    const out = clear($('#dossier'));
    if (!intake.ok && !kase.ok) {
      showProblems($('#d-problems'), intake);
      return;
    }
    showProblems($('#d-problems'), null);
    this.intake = intake.ok ? intake.data : null;
    this.digitized = digitized.ok ? digitized.data : null;
    this.case = kase.ok ? kase.data : null;
    out.dataset.code = this.code;
    out.dataset.state = this.case ? this.case.state : '';
    out.dataset.intake = this.intake ? this.intake.status : '';
    out.append(this.summary(), this.slips(), this.components(), this.counter(),
      this.caseSection(), this.survey());
  }

  // --- what the dossier is ------------------------------------------------------------------

  summary() {
    const i = this.intake || {};
    const c = this.case || {};
    const procedure = this.wb.catalog.procedure.get(i.procedure_code || c.procedure_code);
    const agency = this.wb.catalog.agency.get(i.agency_code || c.agency_code);
    const marks = [];
    if (c.deadline) marks.push(h('span', { class: `mark ${c.deadline}` }, DEADLINE_VI[c.deadline]));
    const used = c.working_time_used;
    const left = c.working_time_left;
    return h('section', { class: 'card', 'aria-labelledby': 'd-summary-title' },
      h('h3', { id: 'd-summary-title' }, `Hồ sơ ${this.code} `, marks),
      h('dl', { class: 'facts', id: 'd-summary' },
        h('dt', {}, 'Thủ tục'), h('dd', {}, procedure ? procedure.name : (i.procedure_code || '—')),
        h('dt', {}, 'Đơn vị'), h('dd', {}, agency ? agency.name : (i.agency_code || '—')),
        h('dt', {}, 'Tiếp nhận'), h('dd', {}, STATUS_VI[i.status] || i.status || '—'),
        h('dt', {}, 'Xử lý'), h('dd', { id: 'd-state' }, STATE_VI[c.state] || c.state || 'Chưa mở hồ sơ xử lý'),
        h('dt', {}, 'Ngày tiếp nhận'), h('dd', {}, when(i.received_at || c.received_at)),
        h('dt', {}, 'Hạn trả kết quả'), h('dd', {}, when(c.due_at || i.due_at)),
        h('dt', {}, 'Kênh nộp / trả'), h('dd', {},
          `${CHANNEL_VI[i.channel] || '—'} / ${RETURN_VI[c.return_channel || i.return_channel] || '—'}`),
        h('dt', {}, 'Bước hiện tại'), h('dd', { id: 'd-step' }, c.step
          ? `${c.current_step}. ${c.step.name} — ${c.step.department}` : '—'),
        h('dt', {}, 'Người xử lý'), h('dd', { id: 'd-holder' }, c.holder || '—'),
        h('dt', {}, 'Hạn của bước'), h('dd', {}, when(c.step_due_at)),
        h('dt', {}, 'Thời gian đã dùng / còn lại'), h('dd', {},
          used ? `${used.value} / ${left ? left.value : '—'} ${used.unit === 'working_days'
            ? 'ngày làm việc' : used.unit}` : '—')));
  }

  slips() {
    const status = this.intake && this.intake.status;
    const section = h('section', { class: 'card', 'aria-labelledby': 'd-slips-title' },
      h('h3', { id: 'd-slips-title' }, 'Phiếu, giấy tờ'));
    const problems = box();
    const row = h('p', { class: 'buttons' });
    for (const [slip, [label, states]] of Object.entries(SLIPS)) {
      if (!states.includes(status)) continue;
      row.append(h('button', { type: 'button', dataset: { slip }, onclick: async () => {
        const answer = await this.wb.api.openPdf('intake',
          `/api/v1/dossiers/${encodeURIComponent(this.code)}/${slip}`, pdfTab());
        showProblems(problems, answer, { lead: label });
      } }, label));
    }
    if (this.case) {
      row.append(h('button', { type: 'button', id: 'd-control-slip', onclick: async () => {
        const answer = await this.wb.api.openPdf('processing',
          `/api/v1/cases/${encodeURIComponent(this.code)}/control-slip.pdf`, pdfTab());
        showProblems(problems, answer, { lead: 'Phiếu kiểm soát' });
      } }, 'Phiếu kiểm soát quá trình giải quyết'));
    }
    section.append(row, problems);
    return section;
  }

  // --- components and their scans -----------------------------------------------------------

  components() {
    const i = this.intake || { components: [] };
    const digitized = new Map(((this.digitized || {}).components || []).map((c) => [c.code, c]));
    const procedure = this.wb.catalog.procedure.get(i.procedure_code);
    const names = new Map(((procedure || {}).components || []).map((c) => [c.code, c.name]));
    const problems = box();
    const body = h('tbody');
    for (const given of i.components || []) {
      const d = digitized.get(given.code) || {};
      const cell = h('td');
      if (d.digitized_at && d.document_ref && d.source === 'scanned') {
        cell.append(h('button', { type: 'button', dataset: { document: d.document_ref },
          onclick: async () => {
            const answer = await this.wb.api.openPdf('digitization',
              `/api/v1/documents/${encodeURIComponent(d.document_ref)}`, pdfTab());
            showProblems(problems, answer, { lead: `Bản quét ${given.code}` });
          } }, 'Xem bản quét đã ký số'));
      } else if (!d.digitized_at && !d.not_digitized && this.wb.may('document:digitize')
                 && this.digitized) {
        const file = h('input', { type: 'file', multiple: true,
          accept: 'image/png,image/jpeg,image/tiff,application/pdf',
          'aria-label': `Tệp quét của ${given.code}`, dataset: { scan: given.code } });
        cell.append(file, h('button', { type: 'button', dataset: { upload: given.code },
          onclick: () => this.scan(given.code, file, problems) }, 'Quét và ký số'));
      }
      const state = d.digitized_at ? `Đã số hóa ${when(d.digitized_at)}${d.signer
        ? ` — ký bởi ${d.signer}` : ''}` : d.not_digitized ? 'Không số hóa (bản gốc dễ hỏng)'
        : 'Chưa số hóa';
      body.append(h('tr', { dataset: { component: given.code } },
        h('td', {}, h('strong', {}, given.code), ` ${names.get(given.code) || ''}`),
        h('td', {}, given.reused ? 'Dùng lại từ kho' : given.form === 'paper' ? 'Bản giấy'
          : 'Bản điện tử'),
        h('td', { class: 'status' }, state), cell));
    }
    return h('section', { class: 'card', 'aria-labelledby': 'd-components-title' },
      h('h3', { id: 'd-components-title' }, 'Thành phần hồ sơ và số hóa'),
      h('table', { class: 'grid', id: 'd-components' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Thành phần'),
          h('th', { scope: 'col' }, 'Hình thức'), h('th', { scope: 'col' }, 'Số hóa'),
          h('th', { scope: 'col' }, 'Bản quét'))), body),
      problems);
  }

  async scan(component, input, problems) {
    if (!input.files.length) {
      showProblems(problems, { ok: false, status: 422, problems: [{ code: 'no_file',
        field: component, message_vi: 'Chưa chọn tệp quét', message_en: 'no file chosen' }] });
      input.focus();
      return;
    }
    const form = new FormData();
    for (const f of input.files) form.append('pages', f, f.name);
    const answer = await this.wb.api.call('digitization',
      `/api/v1/dossiers/${encodeURIComponent(this.code)}/components/${encodeURIComponent(component)}/scan`,
      { method: 'POST', form });
    if (showProblems(problems, answer, { lead: `Quét ${component}` })) await this.refresh();
  }

  // --- the counter's own actions on a received dossier ---------------------------------------

  counter() {
    const i = this.intake;
    if (!i || !this.wb.may('dossier:receive')) return '';
    const problems = box();
    const section = h('section', { class: 'card', 'aria-labelledby': 'd-counter-title' },
      h('h3', { id: 'd-counter-title' }, 'Tại quầy: bổ sung, rút hồ sơ'));
    const code = encodeURIComponent(this.code);
    const after = async (answer, lead) => {
      if (showProblems(problems, answer, { labels: LABELS, lead })) await this.refresh();
    };
    if (i.status === 'awaiting_supplement') {
      const wanted = ((i.supplement_request || {}).items || []).map((x) => x.component_code)
        .filter(Boolean);
      const picks = wanted.map((c) => h('label', {}, h('input', { type: 'checkbox', value: c,
        checked: true }), ` ${c}`));
      section.append(h('div', { class: 'inline-form' },
        h('p', {}, 'Nhận thành phần bổ sung (bản giấy, quét sau khi nhận):'), picks,
        h('button', { type: 'button', id: 'd-supplement', onclick: async () => {
          const components = picks.map((p) => p.querySelector('input'))
            .filter((x) => x.checked).map((x) => ({ code: x.value, form: 'paper' }));
          await after(await this.wb.api.call('intake', `/api/v1/dossiers/${code}/supplement`,
            { method: 'POST', json: { components } }), 'Nhận bổ sung');
        } }, 'Nhận hồ sơ bổ sung')));
    }
    if (i.status === 'received') {
      const need = h('textarea', { rows: 2, 'aria-label': 'Nội dung cần bổ sung (mỗi dòng: MÃ: nội dung)' });
      section.append(h('div', { class: 'inline-form' },
        h('label', { class: 'wide' }, 'Yêu cầu bổ sung (mỗi dòng: MÃ THÀNH PHẦN: nội dung)', need),
        h('button', { type: 'button', onclick: async () => {
          await after(await this.wb.api.call('intake',
            `/api/v1/dossiers/${code}/supplement-request`, { method: 'POST',
              json: { items: items(need.value), requested_by: this.wb.me.name,
                stage: 'intake' } }), 'Yêu cầu bổ sung');
        } }, 'Gửi yêu cầu bổ sung')));
    }
    if (['received', 'awaiting_supplement'].includes(i.status)) {
      const why = h('input', { maxlength: 2000, 'aria-label': 'Lý do rút hồ sơ' });
      section.append(h('div', { class: 'inline-form' },
        h('label', { class: 'wide' }, 'Lý do rút hồ sơ', why),
        h('button', { type: 'button', onclick: async () => {
          await after(await this.wb.api.call('intake', `/api/v1/dossiers/${code}/withdrawal`,
            { method: 'POST', json: { reason: why.value.trim() || null } }), 'Rút hồ sơ');
        } }, 'Rút hồ sơ')));
    }
    section.append(problems);
    return section;
  }

  // --- the processing case ------------------------------------------------------------------

  caseSection() {
    const c = this.case;
    if (!c) {
      return h('section', { class: 'card' }, h('h3', {}, 'Xử lý'),
        h('p', {}, 'Hồ sơ xử lý mở khi đã tiếp nhận và số hóa đủ thành phần.'));
    }
    const problems = box();
    const form = h('div', { class: 'inline-form', id: 'd-action-form', hidden: true });
    const buttons = h('p', { class: 'buttons', id: 'd-actions' });
    for (const action of c.allowed_actions) {
      buttons.append(h('button', { type: 'button', dataset: { action },
        onclick: () => this.prepare(action, form, problems) }, ACTION_VI[action] || action));
    }
    if (!c.allowed_actions.length) buttons.append('Không có thao tác nào ở trạng thái này.');
    const mismatches = Object.values(c.extraction || {}).filter((x) => (x.mismatches || []).length);
    return h('section', { class: 'card', 'aria-labelledby': 'd-case-title' },
      h('h3', { id: 'd-case-title' }, 'Xử lý hồ sơ'),
      c.processed_by_province ? h('p', {}, `Hồ sơ do hệ thống ${c.processed_by_province} xử lý.`)
        : '',
      c.declaration_mismatch ? h('div', { class: 'warning', id: 'd-mismatch' },
        h('p', {}, 'Thông tin trên tờ khai quét khác với thông tin khai báo:'),
        h('ul', {}, mismatches.flatMap((x) => x.mismatches.map((m) => h('li', {},
          `${x.form_code}: ${m.field} — ${m.kind === 'diacritics' ? 'khác dấu' : 'khác giá trị'}`
          + ` (độ tin cậy ${Math.round(m.confidence * 100)}%)`))))) : '',
      buttons, form, problems, this.result(), this.path());
  }

  prepare(action, form, problems) {
    const fields = ACTION_FORMS[action] || [];
    showProblems(problems, null);
    if (!fields.length) {
      form.hidden = true;
      this.act(action, {}, problems);
      return;
    }
    clear(form);
    const inputs = {};
    for (const f of fields) {
      let input;
      if (f.type === 'select') {
        input = h('select', {}, f.options.map(([value, label]) => h('option', { value,
          selected: f.name === 'return_channel' && this.case.return_channel === value }, label)));
      } else if (['textarea', 'items', 'reasons'].includes(f.type)) {
        input = h('textarea', { rows: 2 });
      } else {
        input = h('input', { type: f.type || 'text' });
      }
      input.dataset.field = f.name;
      inputs[f.name] = [f, input];
      form.append(h('label', {}, f.label, input));
    }
    form.append(h('button', { type: 'button', id: 'd-action-confirm', dataset: { action },
      onclick: () => {
        const payload = {};
        for (const [name, [f, input]] of Object.entries(inputs)) {
          const value = input.value.trim();
          if (!value) continue;
          if (f.type === 'reasons') payload[name] = reasons(value);
          else if (f.type === 'items') payload[name] = items(value);
          else if (f.type === 'number') payload[name] = Number(value);
          else if (f.type === 'datetime-local') payload[name] = localToIso(value);
          else payload[name] = value;
        }
        this.act(action, payload, problems, form);
      } }, `Xác nhận: ${ACTION_VI[action] || action}`),
    h('button', { type: 'button', class: 'secondary', onclick: () => { form.hidden = true; } },
      'Hủy'));
    form.hidden = false;
    form.querySelector('select, input, textarea').focus();
  }

  async act(action, payload, problems, form = null) {
    delete $('#dossier').dataset.done;
    const answer = await this.wb.api.call('processing',
      `/api/v1/cases/${encodeURIComponent(this.code)}/actions`, { method: 'POST',
        json: { action, ...payload } });
    if (showProblems(problems, answer, { form, labels: LABELS, lead: ACTION_VI[action] })) {
      await this.refresh();
      const done = $('#dossier');
      done.dataset.done = action;
      const status = h('p', { class: 'ok', role: 'status', id: 'd-done' },
        `Đã thực hiện: ${ACTION_VI[action] || action}`);
      done.prepend(status);
    }
  }

  result() {
    const r = (this.case || {}).result;
    if (!r || !r.decision) return '';
    const problems = box();
    const open = async () => {
      const answer = r.document_url && r.document_ref
        ? await this.wb.api.openPdf('digitization',
          `/api/v1/documents/${encodeURIComponent(r.document_ref)}`, pdfTab())
        : await this.wb.api.openPdf('processing',
          `/api/v1/cases/${encodeURIComponent(this.code)}/result.pdf`, pdfTab());
      showProblems(problems, answer, { lead: 'Văn bản kết quả' });
    };
    const returned = r.returned || {};
    return h('div', { class: 'result', id: 'd-result' },
      h('h4', {}, 'Kết quả'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Quyết định'), h('dd', {}, r.decision === 'approved' ? 'Giải quyết'
          : 'Không giải quyết'),
        h('dt', {}, 'Số văn bản'), h('dd', {}, r.result_code || '—'),
        h('dt', {}, 'Ký số'), h('dd', { id: 'd-signed' }, r.signed ? 'Đã ký số' : 'Chưa ký số'),
        h('dt', {}, 'Kiểm tra chữ ký'), h('dd', {}, r.verification_url
          ? h('a', { href: r.verification_url, target: '_blank', rel: 'noopener' },
            'Đường dẫn kiểm tra') : '—'),
        h('dt', {}, 'Đã trả'), h('dd', {}, returned.returned_at
          ? `${when(returned.returned_at)} — ${RETURN_VI[returned.return_channel] || ''}${
            returned.reference ? ` (${returned.reference})` : ''}` : 'Chưa')),
      h('button', { type: 'button', id: 'd-result-pdf', onclick: open }, 'Xem văn bản kết quả'),
      problems);
  }

  path() {
    const c = this.case;
    const rows = (c.history || []).map((x) => h('tr', {},
      h('td', {}, when(x.at)), h('td', {}, ACTION_VI[x.action] || x.action),
      h('td', {}, x.officer || '—'),
      h('td', {}, `${STATE_VI[x.from_state] || x.from_state || ''} → ${STATE_VI[x.to_state]
        || x.to_state}`),
      h('td', {}, x.step || ''), h('td', {}, x.note || '')));
    const steps = (c.steps || []).map((s) => h('li', {},
      `Bước ${s.step_no} (${s.department}): giao ${when(s.assigned_at)}`,
      s.assignee ? `, ${s.assignee}` : '', `, hạn ${day(s.due_at)}`,
      s.completed_at ? `, xong ${when(s.completed_at)} (${s.outcome === 'late' ? 'trễ hạn'
        : 'đúng hạn'})` : ''));
    return h('div', { class: 'path', id: 'd-path' },
      h('h4', {}, 'Quá trình xử lý'), h('ol', {}, steps),
      h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Thời điểm', 'Thao tác', 'Cán bộ', 'Trạng thái', 'Bước',
          'Ghi chú'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)));
  }

  // --- the counter survey of a returned dossier ---------------------------------------------

  survey() {
    if (!this.case || this.case.state !== 'returned' || !this.wb.may('rating:record')) return '';
    const problems = box();
    const score = h('select', { 'aria-label': 'Mức hài lòng' },
      [5, 4, 3, 2, 1].map((n) => h('option', { value: n }, `${n}`)));
    const comment = h('input', { maxlength: 2000, 'aria-label': 'Ý kiến của người dân' });
    const done = h('p', { class: 'ok', role: 'status', id: 'd-survey-done', hidden: true });
    return h('section', { class: 'card', 'aria-labelledby': 'd-survey-title' },
      h('h3', { id: 'd-survey-title' }, 'Phiếu khảo sát tại quầy'),
      h('p', { class: 'hint' }, 'Cán bộ ghi ý kiến người dân trả lời tại quầy; người dân cũng tự đánh giá trên trang tra cứu.'),
      h('div', { class: 'row' }, h('label', {}, 'Mức hài lòng (1–5)', score),
        h('label', { class: 'wide' }, 'Ý kiến', comment),
        h('button', { type: 'button', onclick: async () => {
          const answer = await this.wb.api.call('reporting',
            `/api/v1/dossiers/${encodeURIComponent(this.code)}/rating`, { method: 'POST',
              json: { score: Number(score.value), comment: comment.value.trim() } });
          done.hidden = !showProblems(problems, answer, { lead: 'Khảo sát' });
          done.textContent = done.hidden ? '' : `Đã ghi phiếu khảo sát tại quầy (${answer.data
            && answer.data.replaced ? 'thay phiếu trước' : 'phiếu mới'}).`;
        } }, 'Ghi phiếu khảo sát')),
      problems, done);
  }
}
