/* Forced into the model's translation unit (-include) by edgeml's profiling image: the generated
   model.c calls EDGEML_OP_BEGIN/END around every op, and the harness counts SysTick ticks there. */
#ifndef EDGEML_PROFILE_H
#define EDGEML_PROFILE_H

#include <stdint.h>

void edgeml_op_begin(int32_t op_index);
void edgeml_op_end(int32_t op_index);
#define EDGEML_OP_BEGIN(op_index) edgeml_op_begin(op_index)
#define EDGEML_OP_END(op_index) edgeml_op_end(op_index)

#endif /* EDGEML_PROFILE_H */
