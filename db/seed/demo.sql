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
        INSERT INTO tickets (code, customer_id, problem, address, area, lat, lng,
                             scheduled_at, techs_needed, status, created_by)
        VALUES ('GSS-' || v_yymm || '-' || lpad(v_n::text, 4, '0'), v_cust.id, d.problem,
                v_cust.address, d.area, d.lat, d.lng, date_trunc('minute', now()) + d.offset_,
                d.techs, d.status, v_cs)
        RETURNING id INTO v_id;
        INSERT INTO audit_log (actor_id, entity, entity_id, action, data)
        VALUES (v_cs, 'ticket', v_id, 'create', jsonb_build_object('seed', true));
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

COMMIT;
