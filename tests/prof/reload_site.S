/* reload_site.S — one function, `site`, that calls malloc(100) from a frame
 * of FRAME_BYTES bytes (more than 127, so `subq` takes a 32-bit operand).
 * Built with two values (reloaded_library_test.sh), the two libraries have
 * the same code but for that operand: the call returns to the same offset,
 * and the unwind rule there differs. */
  .text
  .globl site
  .type site, @function
site:
  .cfi_startproc
  subq $FRAME_BYTES, %rsp
  .cfi_adjust_cfa_offset FRAME_BYTES
  movl $100, %edi
  call malloc@PLT
  addq $FRAME_BYTES, %rsp
  .cfi_adjust_cfa_offset -FRAME_BYTES
  ret
  .cfi_endproc
  .size site, . - site
  .section .note.GNU-stack, "", @progbits
