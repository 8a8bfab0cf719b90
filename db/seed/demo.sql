-- Demo data for scripts/run.sh: a few customers in Jakarta and open tickets
-- for tomorrow, so that a fresh install has something on every screen.
-- Idempotent: running it again adds nothing (customers are keyed by phone,
-- tickets by customer and problem). Never load this into production.
--
-- Ticket codes are taken from ticket_code_counters for the current Jakarta
-- month, exactly as gssd numbers its own tickets, so the two never collide.
-- Demo users come from `gssd user add` in run.sh (passwords need argon2id).

BEGIN;

INSERT INTO customers (name, phone, address, source) VALUES
    ('Budi Santoso',        '6281211110001', 'Jl. Kemang Raya No. 12, Bangka, Mampang Prapatan, Jakarta Selatan 12730', 'manual'),
    ('Siti Rahmawati',      '6281211110002', 'Jl. Cempaka Putih Tengah No. 5, Cempaka Putih, Jakarta Pusat 10510', 'wa'),
    ('Agus Wijaya',         '6281211110003', 'Jl. Boulevard Raya Blok M2 No. 8, Kelapa Gading, Jakarta Utara 14240', 'wa'),
    ('Dewi Lestari',        '6281211110004', 'Jl. Daan Mogot Km 11 No. 27, Cengkareng, Jakarta Barat 11710', 'manual'),
    ('PT Sinar Jaya Abadi', '6281211110005', 'Jl. Raya Bekasi Km 18, Gudang 3, Cakung, Jakarta Timur 13910', 'wa'),
    ('Hendra Gunawan',      '6281211110006', 'Jl. Medan Merdeka Selatan No. 8, Gambir, Jakarta Pusat 10110', 'wa'),
    ('Klinik Sehat Sentosa','6281211110007', 'Jl. H.R. Rasuna Said Kav. 5, Kuningan, Setiabudi, Jakarta Selatan 12940', 'manual'),
    ('Rina Marlina',        '6281211110008', 'Jl. Kebon Sirih No. 40, Menteng, Jakarta Pusat 10340', 'wa')
ON CONFLICT (phone) DO NOTHING;

-- Technicians need a phone for tap-to-call and the Surat Tugas.
UPDATE users SET phone = v.phone
FROM (VALUES ('ts1', '6281355550001'), ('ts2', '6281355550002'), ('ts3', '6281355550003'),
             ('ts4', '6281355550004'), ('cs1', '6281355550010')) AS v (username, phone)
WHERE users.username = v.username AND users.phone IS NULL;

DO $seed$
DECLARE
    d          record;
    v_yymm     text := to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYMM');
    -- Midnight tomorrow, Jakarta wall-clock time.
    v_tomorrow timestamp := date_trunc('day', now() AT TIME ZONE 'Asia/Jakarta') + interval '1 day';
    v_cs       bigint := (SELECT id FROM users WHERE username = 'cs1');
    v_cust     customers%ROWTYPE;
    v_n        integer;
BEGIN
    FOR d IN
        SELECT * FROM (VALUES
            ('6281211110001',
             'AC tidak dingin. Unit split 1 PK di kamar tidur utama hanya keluar angin sejak 3 hari, kemungkinan freon habis.',
             'Jakarta Selatan', -6.2607, 106.8137, 9, 1),
            ('6281211110005',
             'Instalasi CCTV 4 kamera + DVR di gudang, kabel dan tiang sudah tersedia. Minta setting akses lihat dari HP.',
             'Jakarta Timur', -6.1896, 106.9392, 10, 2),
            ('6281211110003',
             'Bongkar pasang 2 unit AC 1/2 PK pindah ke lantai 2, termasuk tambah pipa 4 meter dan isi freon.',
             'Jakarta Utara', -6.1581, 106.9055, 13, 3),
            ('6281211110004',
             'Wi-Fi kantor sering putus. Cek router dan tarik kabel LAN baru ke 3 meja.',
             'Jakarta Barat', -6.1526, 106.7318, 15, 1)
        ) AS t (phone, problem, area, lat, lng, hour, techs)
    LOOP
        SELECT * INTO v_cust FROM customers WHERE phone = d.phone;
        CONTINUE WHEN v_cust.id IS NULL
            OR EXISTS (SELECT 1 FROM tickets WHERE customer_id = v_cust.id AND problem = d.problem);

        INSERT INTO ticket_code_counters (yymm, last) VALUES (v_yymm, 1)
        ON CONFLICT (yymm) DO UPDATE SET last = ticket_code_counters.last + 1
        RETURNING last INTO v_n;

        INSERT INTO tickets (code, customer_id, problem, address, area, lat, lng,
                             scheduled_at, techs_needed, status, created_by)
        VALUES ('GSS-' || v_yymm || '-' || lpad(v_n::text, 4, '0'), v_cust.id, d.problem,
                v_cust.address, d.area, d.lat, d.lng,
                (v_tomorrow + make_interval(hours => d.hour)) AT TIME ZONE 'Asia/Jakarta',
                d.techs, 'open', v_cs);
    END LOOP;
END
$seed$;

-- Today's visits, so that field work can be tried at once: one open job on
-- the board within the hour; one already claimed by ts1 (Job Saya, Surat
-- Tugas, check-in); one where ts2 checked in twenty minutes ago (CS sees the
-- check-in and its flags on the ticket). Times are relative to when the seed
-- first ran; later runs add nothing.
DO $today$
DECLARE
    d      record;
    v_yymm text := to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYMM');
    v_cs   bigint := (SELECT id FROM users WHERE username = 'cs1');
    v_cust customers%ROWTYPE;
    v_tech bigint;
    v_n    integer;
    v_id   bigint;
    v_at   timestamptz;
BEGIN
    FOR d IN
        SELECT * FROM (VALUES
            ('6281211110006', 'Servis rutin 3 unit AC split di ruang kantor lantai 1 (cuci indoor dan outdoor).',
             'Jakarta Pusat', -6.1812, 106.8278, interval '1 hour', 1, NULL, 'open'),
            ('6281211110007', 'CCTV ruang tunggu mati sejak kemarin; cek adaptor dan kabel ke DVR.',
             'Jakarta Selatan', -6.2203, 106.8321, interval '2 hours', 1, 'ts1', 'assigned'),
            ('6281211110008', 'AC bocor air ke lantai, unit 1 PK di kamar depan.',
             'Jakarta Pusat', -6.1870, 106.8297, interval '-20 minutes', 1, 'ts2', 'in_progress')
        ) AS t (phone, problem, area, lat, lng, offset_, techs, tech, status)
    LOOP
        SELECT * INTO v_cust FROM customers WHERE phone = d.phone;
        CONTINUE WHEN v_cust.id IS NULL
            OR EXISTS (SELECT 1 FROM tickets WHERE customer_id = v_cust.id AND problem = d.problem);
        v_tech := (SELECT id FROM users WHERE username = d.tech);
        CONTINUE WHEN d.tech IS NOT NULL AND v_tech IS NULL;

        INSERT INTO ticket_code_counters (yymm, last) VALUES (v_yymm, 1)
        ON CONFLICT (yymm) DO UPDATE SET last = ticket_code_counters.last + 1
        RETURNING last INTO v_n;
        -- A ticket someone claimed three hours ago was opened before that.
        v_at := CASE WHEN v_tech IS NULL THEN now() ELSE now() - interval '4 hours' END;
        INSERT INTO tickets (code, customer_id, problem, address, area, lat, lng,
                             scheduled_at, techs_needed, status, created_by, created_at, updated_at)
        VALUES ('GSS-' || v_yymm || '-' || lpad(v_n::text, 4, '0'), v_cust.id, d.problem,
                v_cust.address, d.area, d.lat, d.lng, date_trunc('minute', now()) + d.offset_,
                d.techs, d.status, v_cs, v_at, v_at)
        RETURNING id INTO v_id;
        INSERT INTO audit_log (at, actor_id, entity, entity_id, action, data)
        VALUES (v_at, v_cs, 'ticket', v_id, 'create', jsonb_build_object('seed', true));
        CONTINUE WHEN v_tech IS NULL;

        INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at, state, checked_in_at)
        VALUES (v_id, v_tech, 1, now() - interval '3 hours',
                CASE WHEN d.status = 'in_progress' THEN 'checked_in' ELSE 'claimed' END,
                CASE WHEN d.status = 'in_progress' THEN now() - interval '20 minutes' END);
        IF d.status = 'in_progress' THEN
            INSERT INTO checkins (ticket_id, tech_id, kind, lat, lng, accuracy_m, distance_m, radius_m,
                                  geofence, late, flags, fix_at, received_at)
            VALUES (v_id, v_tech, 'in', d.lat + 0.0004, d.lng + 0.0003, 14, 55.4, 200, 'inside', false,
                    '{}', now() - interval '20 minutes', now() - interval '20 minutes');
            INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_tech, 'ticket', v_id, 'assignment.checkin', 'claimed', 'checked_in',
                    jsonb_build_object('tech_id', v_tech, 'geofence', 'inside', 'distance_m', 55.4)),
                   (v_tech, 'ticket', v_id, 'ticket.status', 'assigned', 'in_progress', '{}');
        END IF;
    END LOOP;
END
$today$;

-- Money (issue 9, docs/money.md): one ticket at each step after the field
-- work, so that every new screen has something on it. Each walks the real
-- flow's rows up to its step, with times in the past spaced as people
-- would work: claimed, checked in and out, done (ticket work_done); the
-- invoice created (invoicing), submitted, approved, sent (awaiting_payment),
-- paid, rated and closed; invoice_history and audit_log rows for every
-- action, as the handlers write them.
--   work_done         no invoice yet: "Buat Invoice"
--   draft             CS's draft
--   pending           waiting for Sales, submitted 3 hours ago
--   pending + revise  waiting for Sales again, older (about 2 days): Sales
--                     asked for a revision with a note, CS edited and
--                     submitted version 2
--   approved          ready to send ("Kirim ke Pelanggan")
--   sent              sent, one partial payment ("Catat Pembayaran")
--   paid              paid in two parts ("Tutup Tiket")
--   closed            a two-technician job, rated (service and each
--                     technician) and closed
-- Tax: tax_rate_bp from the setting gss.tax_rate_bp when the session has
-- one (PGOPTIONS='-c gss.tax_rate_bp=1100'), else 0, as GSS_TAX_RATE_BP's
-- default. No public_links rows (a token needs GSS_LINK_KEY: "Kirim Ulang"
-- makes them) and no outbox rows (nothing is queued for the demo
-- customers' phones). No BAST files either: the bytes would have to be in
-- the upload folder.
DO $money$
DECLARE
    d         record;
    v_yymm    text := to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYMM');
    v_cs      bigint := (SELECT id FROM users WHERE username = 'cs1');
    v_sales   bigint := (SELECT id FROM users WHERE username = 'sales1');
    v_rate    integer := coalesce(nullif(current_setting('gss.tax_rate_bp', true), '')::integer, 0);
    v_steps   text[] := ARRAY['work_done', 'draft', 'pending', 'approved', 'sent', 'paid', 'closed'];
    v_cust    customers%ROWTYPE;
    v_rank    integer; -- position of d.stage in v_steps
    v_techs   bigint[];
    v_done    timestamptz; -- the work was done (Selesai)
    v_at      timestamptz; -- the time of the step being written
    v_n       integer;
    v_tid     bigint;
    v_code    text;
    v_iid     bigint;
    v_number  text;
    v_ver     integer := 1;
    v_items   jsonb;  -- the current version's lines, with line totals
    v_sub     bigint;
    v_tax     bigint;
    v_total   bigint;
    v_snap    jsonb;  -- {subtotal, discount, tax, total} of the current version
    v_snap1   jsonb;  -- the same of version 1 (before a revision)
    v_istatus text;   -- the invoice's status at the end
    v_tstatus text;   -- the ticket's status at the end
    v_submit  timestamptz;
    v_approve timestamptz;
    v_sent    timestamptz;
    v_paid    bigint;
    v_pay     bigint;
    v_pid     bigint;
    v_paid_at timestamptz;
    v_rid     bigint;
    i         integer;
BEGIN
    IF v_cs IS NULL OR v_sales IS NULL THEN
        RETURN;
    END IF;
    FOR d IN
        SELECT * FROM (VALUES
            ('6281211110002', 'Ganti MCB yang sering turun dan rapikan kabel panel listrik rumah.',
             'Jakarta Pusat', -6.1745, 106.8710, 'work_done', ARRAY['ts3'], interval '2 hours',
             NULL::jsonb, 0::bigint, false, NULL::jsonb, 0::bigint, NULL::text, 0::bigint),
            ('6281211110004', 'Router kantor mati total, minta diganti unit baru dan setting ulang jaringan.',
             'Jakarta Barat', -6.1530, 106.7325, 'draft', ARRAY['ts4'], interval '4 hours',
             '[{"description": "Router Wi-Fi dual band AC1200", "qty": 1, "unit_price": 850000},
               {"description": "Jasa instalasi dan setting jaringan", "qty": 1, "unit_price": 250000}]'::jsonb,
             0, false, NULL, 0, 'Garansi router 1 tahun dari distributor.', 0),
            ('6281211110007', 'Servis 2 unit AC ruang praktik, satu unit berisik saat menyala.',
             'Jakarta Selatan', -6.2210, 106.8330, 'pending', ARRAY['ts3'], interval '5 hours',
             '[{"description": "Cuci AC split 1 PK", "qty": 2, "unit_price": 85000},
               {"description": "Ganti kapasitor kipas outdoor", "qty": 1, "unit_price": 175000}]',
             0, false, NULL, 0, '', 0),
            ('6281211110003', 'Pindah 1 unit AC 1 PK ke kamar belakang, tambah pipa 5 meter.',
             'Jakarta Utara', -6.1590, 106.9060, 'pending', ARRAY['ts4'], interval '3 days',
             '[{"description": "Jasa bongkar pasang AC 1 PK", "qty": 1, "unit_price": 350000},
               {"description": "Pipa AC tambahan (per meter)", "qty": 5, "unit_price": 120000},
               {"description": "Isi freon R32", "qty": 1, "unit_price": 250000}]',
             0, true,
             '[{"description": "Jasa bongkar pasang AC 1 PK", "qty": 1, "unit_price": 350000},
               {"description": "Pipa AC tambahan (per meter)", "qty": 5, "unit_price": 95000},
               {"description": "Isi freon R32", "qty": 1, "unit_price": 250000}]',
             50000, 'Diskon pelanggan langganan.', 0),
            ('6281211110001', 'Instalasi 2 titik lampu taman dan saklar timer di halaman depan.',
             'Jakarta Selatan', -6.2615, 106.8145, 'approved', ARRAY['ts1'], interval '1 day',
             '[{"description": "Lampu taman LED 12W", "qty": 2, "unit_price": 185000},
               {"description": "Saklar timer digital", "qty": 1, "unit_price": 225000},
               {"description": "Jasa instalasi dan kabel", "qty": 1, "unit_price": 300000}]',
             45000, false, NULL, 0, '', 0),
            ('6281211110005', 'Perbaikan 2 kamera CCTV gudang yang gambarnya hilang; cek konektor dan adaptor.',
             'Jakarta Timur', -6.1900, 106.9400, 'sent', ARRAY['ts2'], interval '3 days',
             '[{"description": "Adaptor CCTV 12V 2A", "qty": 2, "unit_price": 95000},
               {"description": "Konektor BNC dan DC (set)", "qty": 4, "unit_price": 15000},
               {"description": "Jasa perbaikan dan setting DVR", "qty": 1, "unit_price": 400000}]',
             0, false, NULL, 0, 'Pembayaran ke BCA a.n. PT GSS.', 300000),
            ('6281211110008', 'AC kamar tidak dingin dan menetes; cuci dan cek tekanan freon.',
             'Jakarta Pusat', -6.1875, 106.8300, 'paid', ARRAY['ts3'], interval '4 days',
             '[{"description": "Cuci AC split 1 PK", "qty": 1, "unit_price": 85000},
               {"description": "Tambah freon R32", "qty": 1, "unit_price": 200000},
               {"description": "Perbaikan saluran pembuangan", "qty": 1, "unit_price": 75000}]',
             0, false, NULL, 0, '', 200000),
            ('6281211110006', 'Instalasi jaringan LAN 8 titik dan 1 access point di kantor lantai 2.',
             'Jakarta Pusat', -6.1815, 106.8285, 'closed', ARRAY['ts1', 'ts2'], interval '7 days',
             '[{"description": "Kabel UTP Cat6 (meter)", "qty": 120, "unit_price": 6500},
               {"description": "Konektor RJ45 dan boot", "qty": 16, "unit_price": 3500},
               {"description": "Access point Wi-Fi", "qty": 1, "unit_price": 1150000},
               {"description": "Jasa instalasi per titik", "qty": 8, "unit_price": 125000}]',
             86000, false, NULL, 0, 'Garansi instalasi 3 bulan.', 0)
        ) AS t (phone, problem, area, lat, lng, stage, techs, done_ago, items, discount, revise, items2,
                discount2, note, first_pay)
    LOOP
        SELECT * INTO v_cust FROM customers WHERE phone = d.phone;
        CONTINUE WHEN v_cust.id IS NULL
            OR EXISTS (SELECT 1 FROM tickets WHERE customer_id = v_cust.id AND problem = d.problem);
        SELECT array_agg(u.id ORDER BY x.ord) INTO v_techs
        FROM unnest(d.techs) WITH ORDINALITY AS x (username, ord) JOIN users u ON u.username = x.username;
        CONTINUE WHEN coalesce(array_length(v_techs, 1), 0) <> array_length(d.techs, 1);
        v_rank := array_position(v_steps, d.stage);
        v_done := date_trunc('minute', now() - d.done_ago);
        v_ver := 1;

        -- The ticket, as the field work left it; its status is set to the
        -- last step at the end.
        INSERT INTO ticket_code_counters (yymm, last) VALUES (v_yymm, 1)
        ON CONFLICT (yymm) DO UPDATE SET last = ticket_code_counters.last + 1
        RETURNING last INTO v_n;
        v_code := 'GSS-' || v_yymm || '-' || lpad(v_n::text, 4, '0');
        INSERT INTO tickets (code, customer_id, problem, address, area, lat, lng, scheduled_at, techs_needed,
                             status, created_by, created_at, updated_at)
        VALUES (v_code, v_cust.id, d.problem, v_cust.address, d.area, d.lat, d.lng, v_done - interval '3 hours',
                array_length(v_techs, 1), 'work_done', v_cs, v_done - interval '2 days', v_done)
        RETURNING id INTO v_tid;
        INSERT INTO audit_log (at, actor_id, entity, entity_id, action, data)
        VALUES (v_done - interval '2 days', v_cs, 'ticket', v_tid, 'create',
                jsonb_build_object('code', v_code, 'techs_needed', array_length(v_techs, 1), 'seed', true));
        FOR i IN 1 .. array_length(v_techs, 1) LOOP
            INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at, state, checked_in_at, checked_out_at, done_at)
            VALUES (v_tid, v_techs[i], i, v_done - interval '2 days' + make_interval(mins => 20 * i), 'done',
                    v_done - interval '3 hours' + make_interval(mins => 4 * i), v_done - interval '10 minutes',
                    v_done);
            INSERT INTO checkins (ticket_id, tech_id, kind, lat, lng, accuracy_m, distance_m, radius_m, geofence,
                                  late, flags, fix_at, received_at)
            VALUES (v_tid, v_techs[i], 'in', d.lat + 0.0004, d.lng + 0.0003, 12, 55.4, 200, 'inside', false, '{}',
                    v_done - interval '3 hours' + make_interval(mins => 4 * i),
                    v_done - interval '3 hours' + make_interval(mins => 4 * i)),
                   (v_tid, v_techs[i], 'out', d.lat + 0.0003, d.lng + 0.0002, 15, 40.1, 200, 'inside', false, '{}',
                    v_done - interval '10 minutes', v_done - interval '10 minutes');
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_done - interval '3 hours' + make_interval(mins => 4 * i), v_techs[i], 'ticket', v_tid,
                    'assignment.checkin', 'claimed', 'checked_in',
                    jsonb_build_object('tech_id', v_techs[i], 'geofence', 'inside', 'distance_m', 55.4, 'late', false));
            IF i = 1 THEN
                INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
                VALUES (v_done - interval '3 hours' + make_interval(mins => 4), v_techs[1], 'ticket', v_tid,
                        'ticket.status', 'assigned', 'in_progress', '{}');
            END IF;
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_done - interval '10 minutes', v_techs[i], 'ticket', v_tid, 'assignment.checkout',
                    'checked_in', 'checked_out',
                    jsonb_build_object('tech_id', v_techs[i], 'geofence', 'inside', 'distance_m', 40.1, 'late', false)),
                   (v_done, v_techs[i], 'ticket', v_tid, 'assignment.complete', 'checked_out', 'done',
                    jsonb_build_object('tech_id', v_techs[i]));
        END LOOP;
        INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
        VALUES (v_done, v_techs[1], 'ticket', v_tid, 'ticket.status', 'in_progress', 'work_done', '{}');
        v_tstatus := 'work_done';
        CONTINUE WHEN v_rank < 2;

        -- The invoice as CS drafted it (version 1).
        SELECT jsonb_agg(jsonb_build_object('description', e->>'description', 'qty', (e->>'qty')::bigint,
                                            'unit_price', (e->>'unit_price')::bigint,
                                            'line_total', (e->>'qty')::bigint * (e->>'unit_price')::bigint)
                         ORDER BY o),
               sum((e->>'qty')::bigint * (e->>'unit_price')::bigint)
        INTO v_items, v_sub
        FROM jsonb_array_elements(d.items) WITH ORDINALITY AS x (e, o);
        v_tax := ((v_sub - d.discount) * v_rate + 5000) / 10000; -- half-up, amounts >= 0
        v_total := v_sub - d.discount + v_tax;
        v_snap := jsonb_build_object('subtotal', v_sub, 'discount', d.discount, 'tax', v_tax, 'total', v_total);
        INSERT INTO invoice_number_counters (yymm, last) VALUES (v_yymm, 1)
        ON CONFLICT (yymm) DO UPDATE SET last = invoice_number_counters.last + 1
        RETURNING last INTO v_n;
        v_number := 'INV-' || v_yymm || '-' || lpad(v_n::text, 4, '0');
        v_at := v_done + interval '1 hour';
        INSERT INTO invoices (ticket_id, number, status, version, subtotal, discount, tax_rate_bp, tax, total,
                              note, created_by, created_at, updated_at)
        VALUES (v_tid, v_number, 'draft', 1, v_sub, d.discount, v_rate, v_tax, v_total, coalesce(d.note, ''),
                v_cs, v_at, v_at)
        RETURNING id INTO v_iid;
        INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                     before, after, items)
        VALUES (v_iid, 1, 'create', v_cs, v_at, NULL, 'draft', NULL, v_snap, v_items);
        INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
        VALUES (v_at, v_cs, 'ticket', v_tid, 'invoice.create', NULL, 'draft',
                jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', 1) || v_snap
                || jsonb_build_object('note', NULL)),
               (v_at, v_cs, 'ticket', v_tid, 'ticket.status', 'work_done', 'invoicing',
                jsonb_build_object('invoice_id', v_iid, 'number', v_number));
        v_istatus := 'draft';
        v_tstatus := 'invoicing';

        IF v_rank >= 3 THEN
            v_at := v_done + interval '2 hours';
            v_submit := v_at;
            INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                         before, after)
            VALUES (v_iid, 1, 'submit', v_cs, v_at, 'draft', 'pending_approval', v_snap, v_snap);
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_cs, 'ticket', v_tid, 'invoice.submit', 'draft', 'pending_approval',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', 1) || v_snap
                    || jsonb_build_object('note', NULL));
            v_istatus := 'pending_approval';
        END IF;

        IF v_rank >= 3 AND d.revise THEN
            -- Sales asks for a revision a day later; CS edits and submits
            -- version 2 (the revision note stays on the history row).
            v_at := v_done + interval '1 day';
            INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, note, status_before,
                                         status_after, before, after)
            VALUES (v_iid, 1, 'revise', v_sales, v_at,
                    'Harga pipa per meter di atas daftar harga (Rp 95.000). Mohon disesuaikan, dan beri diskon langganan Rp 50.000.',
                    'pending_approval', 'revision_requested', v_snap, v_snap);
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_sales, 'ticket', v_tid, 'invoice.revise', 'pending_approval', 'revision_requested',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', 1) || v_snap
                    || jsonb_build_object('note', 'Harga pipa per meter di atas daftar harga (Rp 95.000). Mohon disesuaikan, dan beri diskon langganan Rp 50.000.'));
            v_snap1 := v_snap;
            SELECT jsonb_agg(jsonb_build_object('description', e->>'description', 'qty', (e->>'qty')::bigint,
                                                'unit_price', (e->>'unit_price')::bigint,
                                                'line_total', (e->>'qty')::bigint * (e->>'unit_price')::bigint)
                             ORDER BY o),
                   sum((e->>'qty')::bigint * (e->>'unit_price')::bigint)
            INTO v_items, v_sub
            FROM jsonb_array_elements(d.items2) WITH ORDINALITY AS x (e, o);
            v_tax := ((v_sub - d.discount2) * v_rate + 5000) / 10000;
            v_total := v_sub - d.discount2 + v_tax;
            v_snap := jsonb_build_object('subtotal', v_sub, 'discount', d.discount2, 'tax', v_tax, 'total', v_total);
            v_ver := 2;
            v_at := v_done + interval '1 day 2 hours';
            UPDATE invoices SET version = 2, subtotal = v_sub, discount = d.discount2, tax = v_tax, total = v_total
            WHERE id = v_iid;
            INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                         before, after, items)
            VALUES (v_iid, 2, 'edit', v_cs, v_at, 'revision_requested', 'draft', v_snap1, v_snap, v_items);
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_cs, 'ticket', v_tid, 'invoice.edit', 'revision_requested', 'draft',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', 2) || v_snap
                    || jsonb_build_object('note', NULL));
            v_at := v_done + interval '1 day 3 hours';
            v_submit := v_at;
            INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                         before, after)
            VALUES (v_iid, 2, 'submit', v_cs, v_at, 'draft', 'pending_approval', v_snap, v_snap);
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_cs, 'ticket', v_tid, 'invoice.submit', 'draft', 'pending_approval',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', 2) || v_snap
                    || jsonb_build_object('note', NULL));
        END IF;

        IF v_rank >= 4 THEN
            v_at := v_submit + interval '3 hours';
            v_approve := v_at;
            INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                         before, after)
            VALUES (v_iid, v_ver, 'approve', v_sales, v_at, 'pending_approval', 'approved', v_snap, v_snap);
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_sales, 'ticket', v_tid, 'invoice.approve', 'pending_approval', 'approved',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', v_ver) || v_snap
                    || jsonb_build_object('note', NULL));
            v_istatus := 'approved';
        END IF;

        IF v_rank >= 5 THEN
            v_at := v_approve + interval '1 hour';
            v_sent := v_at;
            INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                         before, after)
            VALUES (v_iid, v_ver, 'send', v_cs, v_at, 'approved', 'sent', v_snap, v_snap);
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_cs, 'ticket', v_tid, 'invoice.send', 'approved', 'sent',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'version', v_ver,
                                       'total', v_total)),
                   (v_at, v_cs, 'ticket', v_tid, 'ticket.status', 'invoicing', 'awaiting_payment',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number));
            v_istatus := 'sent';
            v_tstatus := 'awaiting_payment';

            -- Payments: the first (a transfer with its bank reference) a
            -- day after sending; from `paid` on, the rest in cash three
            -- hours later.
            v_paid := 0;
            FOR i IN 1 .. 2 LOOP
                EXIT WHEN v_paid >= v_total OR (i = 2 AND v_rank < 6);
                v_pay := CASE WHEN i = 1 AND d.first_pay > 0 AND d.first_pay < v_total THEN d.first_pay
                              ELSE v_total - v_paid END;
                v_paid_at := v_sent + interval '1 day' + make_interval(hours => 3 * (i - 1));
                INSERT INTO payments (invoice_id, amount, method, paid_at, reference, recorded_by, created_at)
                VALUES (v_iid, v_pay, CASE WHEN i = 1 THEN 'transfer' ELSE 'cash' END, v_paid_at,
                        CASE WHEN i = 1 THEN 'BCA ' || (7730012000 + v_iid)::text END, v_cs,
                        v_paid_at + interval '25 minutes')
                RETURNING id INTO v_pid;
                v_at := v_paid_at + interval '25 minutes';
                INSERT INTO invoice_history (invoice_id, version, action, actor_id, at, status_before, status_after,
                                             before, after)
                VALUES (v_iid, v_ver, CASE WHEN v_paid + v_pay = v_total THEN 'pay' ELSE 'payment' END, v_cs, v_at,
                        'sent', CASE WHEN v_paid + v_pay = v_total THEN 'paid' ELSE 'sent' END,
                        v_snap || jsonb_build_object('paid_amount', v_paid),
                        v_snap || jsonb_build_object('paid_amount', v_paid + v_pay));
                INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
                VALUES (v_at, v_cs, 'ticket', v_tid, 'payment.record', 'sent',
                        CASE WHEN v_paid + v_pay = v_total THEN 'paid' ELSE 'sent' END,
                        jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'payment_id', v_pid,
                                           'amount', v_pay, 'method', CASE WHEN i = 1 THEN 'transfer' ELSE 'cash' END,
                                           'paid_at', to_char(v_paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                           'paid_amount', v_paid + v_pay,
                                           'balance', v_total - v_paid - v_pay, 'total', v_total));
                v_paid := v_paid + v_pay;
                IF v_paid = v_total THEN
                    INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
                    VALUES (v_at, v_cs, 'ticket', v_tid, 'ticket.status', 'awaiting_payment', 'paid',
                            jsonb_build_object('invoice_id', v_iid, 'number', v_number));
                    v_istatus := 'paid';
                    v_tstatus := 'paid';
                END IF;
            END LOOP;
            UPDATE invoices SET paid_amount = v_paid,
                                paid_at = CASE WHEN v_paid = v_total THEN v_paid_at END
            WHERE id = v_iid;
        END IF;

        IF v_rank >= 7 THEN
            -- The customer rates the service and each technician, then CS
            -- closes the ticket.
            v_at := v_at + interval '2 hours';
            INSERT INTO ratings (ticket_id, score, comment, created_at)
            VALUES (v_tid, 5, 'Teknisi datang tepat waktu, kerja rapi, jaringan kantor sekarang stabil. Terima kasih!',
                    v_at)
            RETURNING id INTO v_rid;
            INSERT INTO rating_techs (rating_id, tech_id, score)
            SELECT v_rid, v_techs[k], CASE WHEN k = 1 THEN 5 ELSE 4 END
            FROM generate_subscripts(v_techs, 1) AS k;
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, data)
            VALUES (v_at, NULL, 'ticket', v_tid, 'rating.create',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number, 'score', 5,
                                       'techs', (SELECT jsonb_agg(jsonb_build_object('tech_id', rt.tech_id,
                                                                                     'score', rt.score)
                                                                  ORDER BY rt.tech_id)
                                                 FROM rating_techs rt WHERE rt.rating_id = v_rid)));
            v_at := v_at + interval '1 hour';
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before, after, data)
            VALUES (v_at, v_cs, 'ticket', v_tid, 'ticket.close', 'paid', 'closed',
                    jsonb_build_object('note', 'Lunas, pelanggan puas.', 'invoice_id', v_iid, 'number', v_number)),
                   (v_at, v_cs, 'ticket', v_tid, 'ticket.status', 'paid', 'closed',
                    jsonb_build_object('invoice_id', v_iid, 'number', v_number));
            v_tstatus := 'closed';
        END IF;

        -- The lines of the version the invoice ended at.
        INSERT INTO invoice_items (invoice_id, pos, description, qty, unit_price, line_total)
        SELECT v_iid, o, e->>'description', (e->>'qty')::bigint, (e->>'unit_price')::bigint,
               (e->>'line_total')::bigint
        FROM jsonb_array_elements(v_items) WITH ORDINALITY AS x (e, o);
        UPDATE invoices SET status = v_istatus, updated_at = v_at,
                            submitted_at = CASE WHEN v_rank >= 3 THEN v_submit END,
                            approved_by = CASE WHEN v_rank >= 4 THEN v_sales END,
                            approved_at = CASE WHEN v_rank >= 4 THEN v_approve END,
                            sent_at = CASE WHEN v_rank >= 5 THEN v_sent END,
                            due_at = CASE WHEN v_rank >= 5 THEN v_sent + interval '7 days' END
        WHERE id = v_iid;
        UPDATE tickets SET status = v_tstatus, updated_at = v_at WHERE id = v_tid;
    END LOOP;
END
$money$;

-- WhatsApp (issue 10; docs/inbox.md, docs/whatsapp.md): four conversations
-- for the CS inbox, written as the webhook and the sender would have left
-- them. Incoming messages are wa_messages rows (direction 'in'); CS's
-- replies are whatsapp outbox rows of kind wa.reply, sent with a fake wamid
-- and the delivery status Meta reported. The 0015 triggers keep
-- customers.inbox_last_at / inbox_last_in_id (and fill outbox.customer_id);
-- last_inbound_at (the 24-hour window) and the read mark are set here, as
-- wa_ingest and POST .../messages/read would.
--   Yusuf Hidayat   new on WhatsApp an hour ago: a photo of the unit and a
--                   text, both unread; window open; no ticket yet
--                   ("Buat Tiket" takes the text as the problem)
--   Agus Wijaya     asked about tomorrow's visit two days ago, unread;
--                   window closed: CS can only send the template
--   Siti Rahmawati  answered by CS this morning: read, replies read and
--                   delivered; window open
--   Hendra Gunawan  CS's reply failed (131026, the number cannot get
--                   WhatsApp messages now): the chat shows why
-- The photo's bytes are db/seed/demo-photo.jpg: run.sh passes its SHA-256
-- and size (psql -v demo_photo='<sha256> <size>') and copies the file to the
-- attachment's path in the upload folder. Without them the photo message
-- is left out. A customer whose conversation has begun (inbox_last_at set,
-- by this seed or by a real message) is left as it is.
\if :{?demo_photo}
SELECT set_config('gss.demo_photo', :'demo_photo', false) AS demo_photo_set \gset
\endif

INSERT INTO customers (name, phone, source, created_at, updated_at)
VALUES ('Yusuf Hidayat', '6281211110009', 'wa', now() - interval '63 minutes', now() - interval '63 minutes')
ON CONFLICT (phone) DO NOTHING;

DO $inbox$
DECLARE
    v_cs    bigint := (SELECT id FROM users WHERE username = 'cs1');
    v_photo text[] := string_to_array(nullif(current_setting('gss.demo_photo', true), ''), ' ');
    v_now   timestamptz := date_trunc('second', now());
    v_cust  customers%ROWTYPE;
    c       record;
    m       record;
    v_at    timestamptz;
    v_wa    text;
    v_att   bigint;
    v_mid   bigint;
    v_oid   bigint;
    v_read  bigint;
    v_last  timestamptz;
BEGIN
    IF v_cs IS NULL THEN
        RETURN;
    END IF;
    FOR c IN SELECT DISTINCT phone FROM (VALUES ('6281211110009'), ('6281211110003'), ('6281211110002'),
                                                ('6281211110006')) AS x (phone)
    LOOP
        SELECT * INTO v_cust FROM customers WHERE phone = c.phone;
        CONTINUE WHEN v_cust.id IS NULL OR v_cust.inbox_last_at IS NOT NULL;
        IF v_cust.phone = '6281211110009' AND NOT EXISTS (SELECT 1 FROM audit_log WHERE entity = 'customer'
                                                           AND entity_id = v_cust.id AND action = 'create') THEN
            -- as wa_ingest writes a customer it meets first
            INSERT INTO audit_log (at, actor_id, entity, entity_id, action, data)
            VALUES (v_cust.created_at, NULL, 'customer', v_cust.id, 'create',
                    jsonb_build_object('name', v_cust.name, 'phone', v_cust.phone, 'wa_user_id', NULL, 'source', 'wa'));
        END IF;
        v_read := NULL;
        v_last := NULL;
        -- n orders a conversation's messages; ago is before the first seed.
        -- out rows: st = outbox status, dlv = Meta's delivery status, err = last_error.
        FOR m IN
            SELECT * FROM (VALUES
                ('6281211110009', 1, 'in', interval '63 minutes', 'image',
                 'Ini unit indoor AC di ruko, lampunya kedip merah terus', NULL, NULL, NULL, false),
                ('6281211110009', 2, 'in', interval '61 minutes', 'text',
                 'Selamat siang. AC di ruko kami (lantai 1) mati total sejak pagi, lampu indikatornya kedip merah. Bisa dicek hari ini? Alamat: Jl. Pintu Besar Selatan No. 21, Tamansari, Jakarta Barat.',
                 NULL, NULL, NULL, false),
                ('6281211110003', 1, 'in', interval '2 days 2 hours', 'text',
                 'Selamat sore. Untuk bongkar pasang 2 unit AC, teknisinya bisa datang pagi saja? Saya di rumah sampai jam 11.',
                 NULL, NULL, NULL, false),
                ('6281211110002', 1, 'in', interval '5 hours 10 minutes', 'text',
                 'Pagi, teknisi untuk ganti MCB jadinya datang jam berapa ya?', NULL, NULL, NULL, true),
                ('6281211110002', 2, 'out', interval '5 hours 3 minutes', 'text',
                 'Selamat pagi Bu Siti. Teknisi kami, Bu Tari, sudah berangkat dan tiba kira-kira 30 menit lagi.',
                 'sent', 'read', NULL, NULL),
                ('6281211110002', 3, 'in', interval '4 hours 58 minutes', 'text',
                 'Baik, terima kasih. Saya tunggu di rumah.', NULL, NULL, NULL, true),
                ('6281211110002', 4, 'out', interval '1 hour 50 minutes', 'text',
                 'Bu Siti, penggantian MCB sudah selesai dan panel sudah dirapikan. Invoice kami kirim lewat WhatsApp setelah disetujui. Terima kasih!',
                 'sent', 'delivered', NULL, NULL),
                ('6281211110006', 1, 'in', interval '3 hours', 'text',
                 'Siang. Untuk servis AC kantor nanti sudah dapat teknisinya? Tolong kabari dulu sebelum datang ya, satpam perlu tahu namanya.',
                 NULL, NULL, NULL, true),
                ('6281211110006', 2, 'out', interval '2 hours 52 minutes', 'text',
                 'Siang Pak Hendra. Jadwalnya tetap hari ini; nama teknisinya kami kabari begitu ada yang mengambil tugasnya.',
                 'unreachable', NULL, '131026: (#131026) Message undeliverable (Message Undeliverable.)', NULL)
            ) AS t (phone, n, dir, ago, type, body, st, dlv, err, read)
            WHERE t.phone = c.phone
            ORDER BY t.n
        LOOP
            v_at := v_now - m.ago;
            v_wa := 'wamid.DEMO' || m.dir || c.phone || 'x' || m.n;
            IF m.dir = 'in' THEN
                v_att := NULL;
                IF m.type = 'image' THEN
                    CONTINUE WHEN v_photo IS NULL;
                    INSERT INTO attachments (customer_id, kind, content_type, size, sha256, path, created_at)
                    VALUES (v_cust.id, 'wa_photo', 'image/jpeg', v_photo[2]::bigint, v_photo[1],
                            to_char(now() AT TIME ZONE 'UTC', 'YYYY/MM/') || v_photo[1], v_at + interval '4 seconds')
                    RETURNING id INTO v_att;
                END IF;
                INSERT INTO wa_messages (wa_id, customer_id, direction, type, body, media_id, media_mime,
                                         sender_phone, sent_at, received_at, status, raw, attachment_id, media_status)
                VALUES (v_wa, v_cust.id, 'in', m.type, m.body,
                        CASE WHEN m.type = 'image' THEN '90000000' || m.n || substr(c.phone, 6) END,
                        CASE WHEN m.type = 'image' THEN 'image/jpeg' END,
                        c.phone, v_at, v_at + interval '1 second', 'received',
                        jsonb_build_object('from', c.phone, 'id', v_wa, 'timestamp', extract(epoch FROM v_at)::bigint::text,
                                           'type', m.type, 'seed', true),
                        v_att, CASE WHEN m.type = 'image' THEN 'stored' END)
                RETURNING id INTO v_mid;
                v_last := v_at;
                IF m.read THEN
                    v_read := v_mid;
                END IF;
            ELSE
                INSERT INTO outbox (channel, kind, target, payload, idem_key, customer_id, status, attempts,
                                    next_attempt_at, last_error, provider_id, created_at, sent_at,
                                    delivery_status, delivery_at)
                VALUES ('whatsapp', 'wa.reply', 'wa:' || c.phone,
                        jsonb_build_object('message', jsonb_build_object('type', 'text',
                                                                         'text', jsonb_build_object('body', m.body)),
                                           'sent_by', v_cs),
                        'inbox:' || v_cust.id || ':demo-' || m.n, v_cust.id, m.st, 1, v_at, m.err,
                        CASE WHEN m.st = 'sent' THEN v_wa END, v_at,
                        CASE WHEN m.st = 'sent' THEN v_at + interval '1 second' END,
                        m.dlv, CASE WHEN m.dlv IS NOT NULL THEN v_at + interval '40 seconds' END)
                ON CONFLICT (idem_key) DO NOTHING
                RETURNING id INTO v_oid;
                CONTINUE WHEN v_oid IS NULL;
                INSERT INTO audit_log (at, actor_id, entity, entity_id, action, data)
                VALUES (v_at, v_cs, 'customer', v_cust.id, 'inbox.reply',
                        jsonb_build_object('outbox_id', v_oid, 'type', 'text', 'template', NULL,
                                           'chars', length(m.body), 'target', 'wa:' || c.phone));
            END IF;
        END LOOP;
        UPDATE customers
           SET last_inbound_at = greatest(last_inbound_at, v_last),
               inbox_read_id = coalesce(v_read, inbox_read_id),
               inbox_read_at = CASE WHEN v_read IS NOT NULL THEN v_last ELSE inbox_read_at END,
               inbox_read_by = CASE WHEN v_read IS NOT NULL THEN v_cs ELSE inbox_read_by END
         WHERE id = v_cust.id;
    END LOOP;
END
$inbox$;

-- Telegram (docs/telegram.md): ts3 has linked an account (the profile says
-- "Telegram: terhubung"; ts1 and the others can try "Hubungkan Telegram").
-- Its ids are made up, so nothing real is ever messaged.
UPDATE users SET telegram_id = 6100000003, telegram_chat_id = 6100000003, updated_at = now()
WHERE username = 'ts3' AND telegram_id IS NULL AND telegram_chat_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM users o WHERE o.telegram_id = 6100000003 OR o.telegram_chat_id = 6100000003);

-- Job broadcasts: every open ticket's job.post, as the 0012 trigger writes
-- it for a ticket created open (a database seeded before 0012 has none).
-- With Telegram off they stay queued and the ticket's "Pesan" says why;
-- with it on (or GSS_RUN_FAKES=1) they go out on the next poll.
INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
SELECT 'telegram', 'job.post', 'role:technicians', jsonb_build_object('round', 1, 'urgent', t.urgent),
       'job.post:' || t.id || ':r1', t.id
FROM tickets t
WHERE t.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'job.post')
ORDER BY t.id
ON CONFLICT (idem_key) DO NOTHING;

-- The job ts1 claimed today, as it went when it was announced: posted to
-- the technicians' group (chat -1001234567890, GSS_TELEGRAM_TS_CHAT of
-- GSS_RUN_FAKES=1), sent to ts3 directly too (GSS_TELEGRAM_JOB_DM) but ts3
-- had blocked the bot (unreachable, 403), then the group's message edited to
-- "full" after ts1's claim. The ticket's "Pesan" shows all of it.
DO $jobs$
DECLARE
    v_tid   bigint;
    v_claim timestamptz;
    v_ts3   users%ROWTYPE;
    v_src   bigint;
    v_grp   bigint;
    v_at    timestamptz;
    v_msg   text;
BEGIN
    SELECT t.id, a.claimed_at INTO v_tid, v_claim
    FROM tickets t JOIN customers cu ON cu.id = t.customer_id
    JOIN assignments a ON a.ticket_id = t.id AND a.released_at IS NULL
    WHERE cu.phone = '6281211110007' AND t.problem = 'CCTV ruang tunggu mati sejak kemarin; cek adaptor dan kabel ke DVR.'
    ORDER BY t.id LIMIT 1;
    IF v_tid IS NULL OR EXISTS (SELECT 1 FROM outbox WHERE ticket_id = v_tid AND kind IN ('job.post', 'job.edit')) THEN
        RETURN;
    END IF;
    SELECT * INTO v_ts3 FROM users WHERE username = 'ts3';
    v_at := date_trunc('second', v_claim) - interval '25 minutes';
    v_msg := '-1001234567890:' || (4100 + v_tid);
    INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, status, attempts, next_attempt_at,
                        provider_id, created_at, sent_at)
    VALUES ('telegram', 'job.post', 'role:technicians', '{"round": 1, "urgent": false}', 'job.post:' || v_tid || ':r1',
            v_tid, 'sent', 0, v_at,
            'fanout:' || CASE WHEN v_ts3.telegram_chat_id IS NOT NULL THEN 2 ELSE 1 END, v_at, v_at + interval '1 second')
    RETURNING id INTO v_src;
    INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, status, attempts, next_attempt_at,
                        provider_id, created_at, sent_at)
    VALUES ('telegram', 'job.post', 'tg:-1001234567890', '{"round": 1, "urgent": false}',
            'job.post:' || v_tid || ':r1:group', v_tid, 'sent', 1, v_at + interval '1 second', v_msg,
            v_at + interval '1 second', v_at + interval '2 seconds')
    RETURNING id INTO v_grp;
    IF v_ts3.telegram_chat_id IS NOT NULL THEN
        INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, status, attempts, next_attempt_at,
                            last_error, created_at)
        VALUES ('telegram', 'job.post', 'tg:' || v_ts3.telegram_chat_id, '{"round": 1, "urgent": false}',
                'job.post:' || v_tid || ':r1:u' || v_ts3.id, v_tid, 'unreachable', 1, v_at + interval '1 second',
                '403: Forbidden: bot was blocked by the user', v_at + interval '1 second');
    END IF;
    v_at := date_trunc('second', v_claim);
    INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, status, attempts, next_attempt_at,
                        provider_id, created_at, sent_at)
    VALUES ('telegram', 'job.edit', 'role:technicians', '{}', 'job.edit:' || v_tid || ':xdemo', v_tid, 'sent', 0,
            v_at, 'fanout:1', v_at, v_at + interval '1 second'),
           ('telegram', 'job.edit', 'tg:-1001234567890', jsonb_build_object('post_id', v_grp),
            'job.edit:' || v_tid || ':xdemo:' || v_grp, v_tid, 'sent', 1, v_at + interval '1 second', v_msg,
            v_at + interval '1 second', v_at + interval '2 seconds');
END
$jobs$;

COMMIT;
