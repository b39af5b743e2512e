// The services' codes in the words an officer reads.

export const STATE_VI = {
  waiting: 'Chờ số hóa',
  in_step: 'Đang xử lý',
  waiting_supplement: 'Chờ bổ sung',
  waiting_agency: 'Chờ cơ quan phối hợp',
  deciding: 'Chờ lãnh đạo quyết định',
  approved: 'Đã phê duyệt',
  denied: 'Không giải quyết',
  stopped: 'Dừng xử lý',
  result_issued: 'Đã phát hành kết quả',
  returned: 'Đã trả kết quả',
  withdrawn: 'Đã rút',
};

export const STATUS_VI = {
  received: 'Đã tiếp nhận',
  awaiting_supplement: 'Chờ bổ sung',
  withdrawn: 'Đã rút',
  refused: 'Từ chối tiếp nhận',
  processing: 'Đang xử lý (tỉnh)',
  resolved: 'Đã giải quyết (tỉnh)',
  denied: 'Không giải quyết (tỉnh)',
  returned: 'Đã trả kết quả',
};

export const ACTION_VI = {
  open: 'Mở hồ sơ',
  claim: 'Nhận xử lý',
  complete_step: 'Hoàn thành bước',
  return_to_step: 'Trả về bước trước',
  request_supplement: 'Yêu cầu bổ sung',
  ask_agency: 'Hỏi cơ quan khác',
  record_agency_answer: 'Ghi trả lời của cơ quan phối hợp',
  stop: 'Dừng xử lý',
  approve: 'Phê duyệt',
  deny: 'Không phê duyệt',
  issue_result: 'Phát hành kết quả (ký số)',
  record_return: 'Trả kết quả',
  supplement_received: 'Nhận bổ sung',
  withdraw: 'Rút hồ sơ',
};

export const CHANNEL_VI = {
  counter: 'Trực tiếp tại quầy',
  postal: 'Qua bưu chính',
  online: 'Trực tuyến',
  provincial: 'Hệ thống của tỉnh',
};

export const RETURN_VI = {
  counter: 'Nhận tại quầy',
  postal: 'Gửi qua bưu chính công ích',
  online: 'Trả trên Cổng dịch vụ công',
};

export const UNIT_VI = {
  working_days: 'ngày làm việc',
  days_excluding_holidays: 'ngày (không kể ngày lễ)',
  hours: 'giờ làm việc',
  same_day: 'trong ngày',
};

export const DEADLINE_VI = { near: 'Sắp đến hạn', overdue: 'Quá hạn' };

export const FIELD_VI = {
  agency_code: 'Đơn vị tiếp nhận',
  procedure_code: 'Thủ tục',
  channel: 'Kênh nộp',
  return_channel: 'Hình thức trả kết quả',
  'applicant.full_name': 'Họ và tên',
  'applicant.id_number': 'Số CCCD',
  'applicant.name': 'Tên đơn vị',
  'applicant.unit_code': 'Mã đơn vị',
  'applicant.social_insurance_code': 'Mã số BHXH',
  'applicant.phone': 'Điện thoại',
  'applicant.email': 'Thư điện tử',
  components: 'Thành phần hồ sơ',
  postal_tracking_number: 'Số hiệu bưu gửi',
  portal_account: 'Tài khoản Cổng DVC',
  reasons: 'Lý do',
  officer: 'Cán bộ',
  permission: 'Quyền',
  action: 'Thao tác',
};

export const LABELS = { ...STATE_VI, ...ACTION_VI, ...FIELD_VI };

export function legalTime(lt) {
  if (!lt) return '—';
  if (lt.unit === 'same_day') return 'Trong ngày';
  return `${lt.value} ${UNIT_VI[lt.unit] || lt.unit}`;
}
