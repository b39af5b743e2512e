// The citizens' page: a dossier looked up by its code and the last four ID digits (intake's
// public route; a wrong code and wrong digits get the same answer), its status in plain
// Vietnamese, its path, the appointment, the result and how it comes back, the signed
// result's verification link, and the satisfaction rating of a returned dossier (Art. 31).
// The digits are never put in the address: they travel in the query of one call, or in a
// POST body.

import { Api, loadConfig } from '/static/common/api.js';
import { $, $$, clear, day, h, showProblems, when } from '/static/common/ui.js';

const config = await loadConfig();
const api = new Api(config);
let current = null; // {code, last4}

const NOT_FOUND = 'Không tìm thấy hồ sơ với mã và 4 số cuối đã nhập. Vui lòng kiểm tra lại giấy tiếp nhận.';

function explain(result) {
  // The same sentence for a wrong code and wrong digits, as the service answers.
  if (result.status === 404) {
    return { ...result, problems: [{ code: 'not_found', field: null, message_vi: NOT_FOUND,
      message_en: 'not found' }] };
  }
  return result;
}

function show(view) {
  $('#found').hidden = false;
  $('#status').textContent = view.status_vi;
  $('#found').dataset.stage = view.stage;
  const facts = clear($('#facts'));
  const r = view.result;
  facts.append(
    h('dt', {}, 'Mã hồ sơ'), h('dd', { id: 'f-code' }, view.dossier_code),
    h('dt', {}, 'Thủ tục'), h('dd', {}, view.procedure_name || view.procedure_code),
    h('dt', {}, 'Cơ quan giải quyết'), h('dd', {}, view.agency_name || view.agency_code),
    h('dt', {}, 'Ngày tiếp nhận'), h('dd', {}, when(view.received_at)),
    h('dt', {}, 'Ngày hẹn trả kết quả'), h('dd', { id: 'f-appointment' }, day(view.appointment_at)),
    h('dt', {}, 'Nhận kết quả'), h('dd', { id: 'f-return' }, r.return_channel_vi),
  );
  const result = clear($('#result-box'));
  if (r.ready) {
    result.append(h('div', { class: 'result', id: 'f-result' },
      h('p', {}, r.returned_at ? `Kết quả đã trả ngày ${day(r.returned_at)} (${r.return_channel_vi}).`
        : `Kết quả đã sẵn sàng: ${r.return_channel_vi.toLowerCase()}.`),
      r.verification_url ? h('p', {}, 'Kết quả được ký số. ',
        h('a', { id: 'f-verify', href: r.verification_url, target: '_blank', rel: 'noopener' },
          'Kiểm tra chữ ký số của văn bản kết quả')) : ''));
  }
  if (!view.progress_known) {
    result.append(h('p', { class: 'hint' }, 'Chưa lấy được tiến độ chi tiết; trạng thái trên là của bộ phận tiếp nhận.'));
  }
  const path = clear($('#path'));
  for (const step of view.path) {
    path.append(h('li', { dataset: { state: step.state, kind: step.kind } },
      step.label_vi, step.department ? ` — ${step.department}` : '',
      step.state === 'ahead' ? ' (chưa đến)' : step.state === 'current' ? ' (đang thực hiện)' : '',
      step.at ? h('time', { datetime: step.at }, when(step.completed_at || step.at)) : ''));
  }
  showRating(view.rating || { allowed: false });
  $('#status').focus();
}

function showRating(rating) {
  const section = $('#rating');
  section.hidden = !rating.allowed;
  if (!rating.allowed) return;
  const note = $('#rating-note');
  $('#rating-done').hidden = true;
  if (rating.score) {
    for (const input of $$('input[name="score"]')) input.checked = Number(input.value) === rating.score;
    $('#comment').value = rating.comment || '';
    note.textContent = rating.changeable_until
      ? `Ông/bà đã đánh giá ${rating.score}/5; có thể sửa đến ${when(rating.changeable_until)}.`
      : `Ông/bà đã đánh giá ${rating.score}/5.`;
  } else {
    note.textContent = 'Mỗi hồ sơ được đánh giá một lần; sau khi gửi vẫn có thể sửa trong thời hạn được thông báo.';
  }
}

async function lookup(code, last4) {
  const query = new URLSearchParams({ id_last4: last4 });
  return api.call('intake', `/api/v1/public/dossiers/${encodeURIComponent(code)}?${query}`);
}

$('#lookup').onsubmit = async (event) => {
  event.preventDefault();
  const code = $('#code').value.trim();
  const last4 = $('#last4').value.trim();
  const form = $('#lookup');
  $('#found').hidden = true;
  $('#rating').hidden = true;
  if (!code || !/^[0-9A-Za-z]{4}$/.test(last4)) {
    showProblems($('#problems'), { ok: false, status: 422, problems: [{ code: 'invalid',
      field: code ? 'id_last4' : 'code', message_vi: 'Nhập mã hồ sơ và đúng 4 ký tự cuối của số giấy tờ',
      message_en: 'enter the code and four characters' }] });
    return;
  }
  const answer = await lookup(code, last4);
  if (!showProblems($('#problems'), explain(answer), { form })) return;
  current = { code, last4 };
  show(answer.data);
};

$('#rate').onsubmit = async (event) => {
  event.preventDefault();
  const chosen = $('input[name="score"]:checked');
  const box = $('#rating-problems');
  if (!chosen) {
    showProblems(box, { ok: false, status: 422, problems: [{ code: 'score_required',
      field: 'score', message_vi: 'Chọn một mức hài lòng từ 1 đến 5', message_en: 'choose a score' }] });
    return;
  }
  const answer = await api.call('intake',
    `/api/v1/public/dossiers/${encodeURIComponent(current.code)}/rating`, { method: 'POST',
      json: { id_last4: current.last4, score: Number(chosen.value),
        comment: $('#comment').value.trim() } });
  if (!showProblems(box, explain(answer))) return;
  const done = $('#rating-done');
  done.hidden = false;
  done.textContent = `Cảm ơn ông/bà đã đánh giá ${answer.data.score}/5.`
    + (answer.data.changeable_until ? ` Có thể sửa đánh giá đến ${when(answer.data.changeable_until)}.` : '');
  $('#rating-note').textContent = '';
  done.focus();
};
