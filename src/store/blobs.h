/*
 * blobs: files named by their content under the upload folder
 * (GSS_UPLOAD_DIR; docs/fieldwork.md "Uploads"), shared by the streamed
 * uploads (http/handlers/attachments.c) and the WhatsApp photos gssd fetches
 * itself (integrations/wa_media.c), so both lay files out the same way and
 * the start-up sweep knows every temporary file.
 *
 * Layout: <dir>/<yyyy>/<mm>/<sha256 hex> (UTC month of the write); a file
 * being written is <dir>/tmp/<host>-<pid>-<random>.part until it is renamed
 * into place, so a crash leaves only a .part the next start removes. Two
 * writes of the same bytes end in the same file (the rename replaces it with
 * identical content), so whoever stored a file first never sees it change.
 *
 * Provides
 *   - blobs_sniff: the type from a file's first bytes (JPEG, PNG, PDF);
 *   - the names: blobs_part_owner, blobs_part_path, blobs_final_rel;
 *   - blobs_put: a whole buffer written as a content-named file, off the
 *     loop (libuv's threadpool): hash, check against an expected hash,
 *     write, fsync, mkdir, rename.
 *
 * Memory: blobs_put's data must stay valid and unchanged until its callback
 * runs; the names handed to the callback live during the call only.
 * Threads: call from the loop's thread; the callback runs there.
 * Errors: libuv-style negative errno values (UV_ENOSPC, ...).
 */
#ifndef GSS_STORE_BLOBS_H
#define GSS_STORE_BLOBS_H

#include <stddef.h>
#include <uv.h>

#define BLOBS_REL_MAX 96 /* "yyyy/mm/" + 64 hex + NUL, with room */
/* The longest upload folder (GSS_UPLOAD_DIR) taken: every name under it
 * then fits BLOBS_PATH_MAX whatever the host name and pid ("/tmp/" + 63 +
 * "-" + 11 + "-" + 32 + ".part" = 118 bytes after the folder). */
#define BLOBS_DIR_MAX  384
#define BLOBS_PATH_MAX 512       /* a whole path, NUL included */
#define BLOBS_ERR_SHA  (-100000) /* blobs_put: the bytes' hash is not the expected one */

/* "image/jpeg", "image/png", "application/pdf" by magic bytes; NULL: none of them. */
const char *blobs_sniff(const unsigned char *p, size_t n);

/* This host's name as it goes into .part names (no '/' or '.', at most n - 1 bytes). */
void blobs_part_owner(char *out, size_t n);
/* A fresh <dir>/tmp/<host>-<pid>-<random>.part. 0, or UV_ENAMETOOLONG when
 * it does not fit n bytes (out is then ""): never a cut-off name. */
int blobs_part_path(const char *dir, char *out, size_t n);
/* <yyyy>/<mm>/<sha_hex> for now (UTC). */
void blobs_final_rel(const char *sha_hex, char *out, size_t n);

/* status: 0 (stored: sha_hex, and rel under dir), a negative libuv error, or
 * BLOBS_ERR_SHA (nothing written; sha_hex is what the bytes hash to). */
typedef void (*blobs_cb)(void *ud, int status, const char *sha_hex, const char *rel);

/* Stores data[0..len) under dir. expect_sha_hex: 64 lowercase hex
 * characters the bytes must hash to, or NULL. Returns 0 (cb will run once,
 * later), or a negative libuv error (cb will not run): UV_ENAMETOOLONG for
 * a dir longer than BLOBS_DIR_MAX bytes. */
int blobs_put(uv_loop_t *loop, const char *dir, const void *data, size_t len, const char *expect_sha_hex, blobs_cb cb,
              void *ud);

#endif
