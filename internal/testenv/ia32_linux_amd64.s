#include "textflag.h"

// func int80(nr, bx, cx, dx, si, di uintptr) uintptr
//
// A 32-bit (ia32) syscall from this 64-bit process: int $0x80 enters the
// kernel's compat entry, which takes the syscall number from eax and the
// arguments from ebx, ecx, edx, esi, edi (di also lets a test leave a value
// where a 64-bit syscall would read its first argument).
TEXT ·int80(SB), NOSPLIT, $0-56
	MOVQ nr+0(FP), AX
	MOVQ bx+8(FP), BX
	MOVQ cx+16(FP), CX
	MOVQ dx+24(FP), DX
	MOVQ si+32(FP), SI
	MOVQ di+40(FP), DI
	BYTE $0xCD; BYTE $0x80 // int $0x80
	MOVQ AX, ret+48(FP)
	RET
