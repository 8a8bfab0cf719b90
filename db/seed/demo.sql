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
    ('PT Sinar Jaya Abadi', '6281211110005', 'Jl. Raya Bekasi Km 18, Gudang 3, Cakung, Jakarta Timur 13910', 'wa')
ON CONFLICT (phone) DO NOTHING;

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

COMMIT;
