/* CLIP's BPE merges (src/text/data/bpe_merges.txt), linked into the binary.
   The path resolves through the target's include directories (src/), which gcc passes on
   to the assembler. Ninja does not see this dependency: touch this file after editing the
   data. */
    .section .rodata
    .global diffuse_bpe_merges
    .global diffuse_bpe_merges_end
    .type diffuse_bpe_merges, @object
    .type diffuse_bpe_merges_end, @object
diffuse_bpe_merges:
    .incbin "text/data/bpe_merges.txt"
diffuse_bpe_merges_end:
    .size diffuse_bpe_merges, diffuse_bpe_merges_end - diffuse_bpe_merges

    /* No executable stack. */
    .section .note.GNU-stack, "", @progbits
