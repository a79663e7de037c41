// libcapstone.so.4 for QEMU without a disassembler (QemuOptions::capstone).
//
// Debian's QEMU links capstone only to print disassembly in its `-d in_asm,out_asm` logs
// and for the monitor's `x/i`, yet every QEMU pays for loading it: the dynamic linker
// relocates capstone's pointer tables into private pages of each process.
// The agent preloads this library instead (LD_PRELOAD; its soname is libcapstone.so.4,
// so the dynamic linker counts capstone as loaded). These are the five functions QEMU
// 7.2 imports from capstone, with capstone 4's types and error codes: opening a handle
// fails with CS_ERR_ARCH, on which QEMU prints the code's bytes instead; the others
// never see a valid handle and fail the way capstone does for an invalid one.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

// capstone.h (4.0): cs_err values and the handle type.
enum { kCsErrArch = 2, kCsErrHandle = 3, kCsErrCsh = 4 };
typedef size_t csh;

EXPORT int cs_open(int arch, int mode, csh* handle) {
  (void)arch;
  (void)mode;
  if (handle != NULL) *handle = 0;
  return kCsErrArch;
}

EXPORT int cs_close(csh* handle) {
  if (handle == NULL || *handle == 0) return kCsErrCsh;
  *handle = 0;
  return kCsErrCsh;
}

EXPORT int cs_option(csh handle, int type, size_t value) {
  (void)handle;
  (void)type;
  (void)value;
  return kCsErrHandle;
}

EXPORT void* cs_malloc(csh handle) {
  (void)handle;
  return NULL;
}

EXPORT bool cs_disasm_iter(csh handle, const uint8_t** code, size_t* size, uint64_t* address,
                           void* insn) {
  (void)handle;
  (void)code;
  (void)size;
  (void)address;
  (void)insn;
  return false;
}
