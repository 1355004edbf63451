// BLAKE3 on the GPU, bit-identical to the blake3 crate for the two messages a
// challenge needs (challenge.rs defines them):
// - gen_a: rows of A, each the keyed XOF of a short message (prefix || row index),
//   one thread per 64-byte output block;
// - hash_chunks + hash_merge: the unkeyed hash of each row of C (prefix || row
//   index || entries), one thread per 1 KiB chunk, then one per row for the tree;
// - merkle_level: one level of gpunet's Merkle tree over those hashes
//   (primitives' merkle.rs: a node is the hash of 0x01 || left || right).
// Compiled at run time by NVRTC (cuda/kernels.rs).

typedef unsigned int u32;
typedef unsigned char u8;
typedef unsigned long long u64;

#define CHUNK_START 1u
#define CHUNK_END 2u
#define PARENT 4u
#define ROOT 8u
#define KEYED_HASH 16u
#define CHUNK_LEN 1024u
#define BLOCK_LEN 64u

// A message prefix (its row index goes right after it) and a key, passed by
// value. The prefixes' lengths are compile-time constants (A_PREFIX_LEN and
// ROW_PREFIX_LEN, set by kernels.rs), so that every register array is indexed
// statically and none spills to local memory.
struct Prefix { u32 w[16]; };
struct Key { u32 w[8]; };

__device__ __forceinline__ u32 rotr(u32 x, u32 n) { return __funnelshift_r(x, x, n); }

#define G(a, b, c, d, x, y)                  \
    a = a + b + x; d = rotr(d ^ a, 16);      \
    c = c + d;     b = rotr(b ^ c, 12);      \
    a = a + b + y; d = rotr(d ^ a, 8);       \
    c = c + d;     b = rotr(b ^ c, 7);

__device__ __forceinline__ void iv(u32 cv[8]) {
    cv[0] = 0x6A09E667u; cv[1] = 0xBB67AE85u; cv[2] = 0x3C6EF372u; cv[3] = 0xA54FF53Au;
    cv[4] = 0x510E527Fu; cv[5] = 0x9B05688Cu; cv[6] = 0x1F83D9ABu; cv[7] = 0x5BE0CD19u;
}

// The compression function; `out` gets all 16 output words (the first 8 are
// the chaining value, all 16 an extended-output block).
__device__ __forceinline__ void compress(const u32 cv[8], const u32 block[16], u64 counter,
                                         u32 block_len, u32 flags, u32 out[16]) {
    u32 s[16], m[16];
    iv(s + 8);
#pragma unroll
    for (int i = 0; i < 8; i++) s[i] = cv[i];
#pragma unroll
    for (int i = 0; i < 16; i++) m[i] = block[i];
    s[12] = (u32)counter;
    s[13] = (u32)(counter >> 32);
    s[14] = block_len;
    s[15] = flags;
#pragma unroll
    for (int r = 0; r < 7; r++) {
        G(s[0], s[4], s[8], s[12], m[0], m[1]);
        G(s[1], s[5], s[9], s[13], m[2], m[3]);
        G(s[2], s[6], s[10], s[14], m[4], m[5]);
        G(s[3], s[7], s[11], s[15], m[6], m[7]);
        G(s[0], s[5], s[10], s[15], m[8], m[9]);
        G(s[1], s[6], s[11], s[12], m[10], m[11]);
        G(s[2], s[7], s[8], s[13], m[12], m[13]);
        G(s[3], s[4], s[9], s[14], m[14], m[15]);
        // The message permutation; unrolled, it is only a renaming of registers.
        u32 t[16] = {m[2], m[6], m[3], m[10], m[7], m[0], m[4], m[13],
                     m[1], m[11], m[12], m[5], m[9], m[14], m[15], m[8]};
#pragma unroll
        for (int i = 0; i < 16; i++) m[i] = t[i];
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        out[i] = s[i] ^ s[i + 8];
        out[i + 8] = s[i + 8] ^ cv[i];
    }
}

// The prefix's words with `index` (u32 LE) written at byte `len` (at most 60).
template <u32 len>
__device__ __forceinline__ void prefix_block(const Prefix &prefix, u32 index, u32 m[16]) {
    u64 placed = (u64)index << ((len & 3u) * 8u);
#pragma unroll
    for (int i = 0; i < 16; i++) m[i] = prefix.w[i];
    m[len / 4] |= (u32)placed;
    if (len / 4 + 1 < 16) m[len / 4 + 1] |= (u32)(placed >> 32);
}

// Rows first_row.. of A: row r is the keyed XOF of (prefix || first_row + r),
// `inner` bytes, row-major in `a`. Thread t writes output block t % blocks of
// row t / blocks.
extern "C" __global__ void gen_a(Key key, Prefix prefix, u32 first_row, u32 rows, u32 inner,
                                 u8 *a) {
    u32 blocks = (inner + BLOCK_LEN - 1) / BLOCK_LEN;
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (u64)rows * blocks) return;
    u32 r = (u32)(t / blocks), b = (u32)(t % blocks);
    u32 m[16], out[16];
    prefix_block<A_PREFIX_LEN>(prefix, first_row + r, m);
    compress(key.w, m, b, A_PREFIX_LEN + 4, CHUNK_START | CHUNK_END | ROOT | KEYED_HASH, out);
    u8 *dst = a + (u64)r * inner + (u64)b * BLOCK_LEN;
    if ((inner & 15u) == 0 && (b + 1) * BLOCK_LEN <= inner) {
        uint4 *v = (uint4 *)dst;
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = make_uint4(out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]);
    } else {
        u32 n = min(BLOCK_LEN, inner - b * BLOCK_LEN);
#pragma unroll
        for (int i = 0; i < 64; i++)
            if (i < n) dst[i] = (u8)(out[i / 4] >> ((i % 4) * 8));
    }
}

// Byte `o` of the row message: the prefix with its index, then the row's
// entries, then zeros. Only for the few blocks that straddle an edge.
__device__ u8 message_byte(const u32 head[16], u32 head_len, const u32 *row, u32 len, u32 o) {
    if (o < head_len) return (u8)(head[o >> 2] >> ((o & 3u) * 8u));
    if (o >= len) return 0;
    o -= head_len;
    return (u8)(row[o >> 2] >> ((o & 3u) * 8u));
}

// The chaining value of every chunk of every row's message (prefix || index ||
// row of `cols` i32 entries). A message of one chunk gets its root hash here.
// Thread t: chunk t % chunks of row t / chunks; `cvs` holds 8 words per chunk.
extern "C" __global__ void hash_chunks(Prefix prefix, u32 first_row, u32 rows, u32 cols,
                                       const u32 *c, u32 *cvs) {
    const u32 head_len = ROW_PREFIX_LEN + 4;
    u32 len = head_len + cols * 4u;
    u32 chunks = (len + CHUNK_LEN - 1) / CHUNK_LEN;
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (u64)rows * chunks) return;
    u32 r = (u32)(t / chunks), chunk = (u32)(t % chunks);
    const u32 *row = c + (u64)r * cols;
    u32 head[16];
    prefix_block<ROW_PREFIX_LEN>(prefix, first_row + r, head);

    u32 start = chunk * CHUNK_LEN, end = min(start + CHUNK_LEN, len);
    u32 blocks = (end - start + BLOCK_LEN - 1) / BLOCK_LEN;
    u32 cv[8], m[16], out[16];
    iv(cv);
    for (u32 b = 0; b < blocks; b++) {
        u32 at = start + b * BLOCK_LEN;
        u32 block_len = min(BLOCK_LEN, end - at);
        if (at >= head_len && at + BLOCK_LEN <= len) {
            // Inside the entries: the 16 words start `skew` bytes into row word `w`.
            u32 q = at - head_len, w = q >> 2, skew = (q & 3u) * 8u;
            u32 words[17];
#pragma unroll
            for (int i = 0; i < 17; i++) words[i] = row[min(w + i, cols - 1)];
#pragma unroll
            for (int i = 0; i < 16; i++) m[i] = __funnelshift_r(words[i], words[i + 1], skew);
        } else {
#pragma unroll
            for (int i = 0; i < 16; i++) {
                u32 o = at + 4u * i;
                m[i] = message_byte(head, head_len, row, len, o) |
                       (u32)message_byte(head, head_len, row, len, o + 1) << 8 |
                       (u32)message_byte(head, head_len, row, len, o + 2) << 16 |
                       (u32)message_byte(head, head_len, row, len, o + 3) << 24;
            }
        }
        u32 flags = (b == 0 ? CHUNK_START : 0u) | (b + 1 == blocks ? CHUNK_END : 0u) |
                    (chunks == 1 && b + 1 == blocks ? ROOT : 0u);
        compress(cv, m, chunk, block_len, flags, out);
#pragma unroll
        for (int i = 0; i < 8; i++) cv[i] = out[i];
    }
    u32 *dst = cvs + t * 8;
#pragma unroll
    for (int i = 0; i < 8; i++) dst[i] = cv[i];
}

__device__ __forceinline__ void parent(const u32 left[8], const u32 right[8], u32 flags, u32 cv[8]) {
    u32 key[8], m[16], out[16];
    iv(key);
#pragma unroll
    for (int i = 0; i < 8; i++) { m[i] = left[i]; m[i + 8] = right[i]; }
    compress(key, m, 0, BLOCK_LEN, PARENT | flags, out);
#pragma unroll
    for (int i = 0; i < 8; i++) cv[i] = out[i];
}

// Each row's hash from its chunks' chaining values, merged as the blake3
// crate does: a stack of subtree roots, the last merge flagged ROOT.
// `hashes` gets 32 bytes per row.
extern "C" __global__ void hash_merge(u32 rows, u32 cols, const u32 *cvs, u32 *hashes) {
    u32 len = ROW_PREFIX_LEN + 4 + cols * 4u;
    u32 chunks = (len + CHUNK_LEN - 1) / CHUNK_LEN;
    u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const u32 *row_cvs = cvs + (u64)r * chunks * 8;
    u32 out[8];
#pragma unroll
    for (int i = 0; i < 8; i++) out[i] = row_cvs[(chunks - 1) * 8 + i];
    if (chunks > 1) {
        // At most 65 chunks (MAX_COLS entries): a stack of at most 7 subtrees.
        u32 stack[8][8];
        u32 depth = 0;
        for (u32 k = 0; k + 1 < chunks; k++) {
            u32 cv[8];
#pragma unroll
            for (int i = 0; i < 8; i++) cv[i] = row_cvs[k * 8 + i];
            for (u32 total = k + 1; (total & 1u) == 0; total >>= 1) parent(stack[--depth], cv, 0, cv);
#pragma unroll
            for (int i = 0; i < 8; i++) stack[depth][i] = cv[i];
            depth++;
        }
        while (depth > 0) {
            depth--;
            parent(stack[depth], out, depth == 0 ? ROOT : 0u, out);
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++) hashes[(u64)r * 8 + i] = out[i];
}

// One level of the Merkle tree: node j of `count` nodes' parents is the hash of
// 0x01 || in[2j] || in[2j + 1], a lone last node paired with itself. Nodes
// are 8 words; the 65-byte message is one chunk of two blocks.
extern "C" __global__ void merkle_level(const u32 *in, u32 count, u32 *out) {
    u32 j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= (count + 1) / 2) return;
    u32 pair[16];
    u32 right = 2 * j + 1 < count ? 2 * j + 1 : 2 * j;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        pair[i] = in[(u64)2 * j * 8 + i];
        pair[i + 8] = in[(u64)right * 8 + i];
    }
    // The message is the pair shifted one byte up behind the 0x01.
    u32 m[16], cv[8], out16[16];
    m[0] = pair[0] << 8 | 1u;
#pragma unroll
    for (int i = 1; i < 16; i++) m[i] = __funnelshift_l(pair[i - 1], pair[i], 8);
    iv(cv);
    compress(cv, m, 0, BLOCK_LEN, CHUNK_START, out16);
#pragma unroll
    for (int i = 0; i < 8; i++) cv[i] = out16[i];
#pragma unroll
    for (int i = 0; i < 16; i++) m[i] = 0;
    m[0] = pair[15] >> 24;
    compress(cv, m, 0, 1, CHUNK_END | ROOT, out16);
#pragma unroll
    for (int i = 0; i < 8; i++) out[(u64)j * 8 + i] = out16[i];
}
