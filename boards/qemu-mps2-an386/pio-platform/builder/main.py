# SCons build script of the local tinyfl-qemu platform: compiles the project (src/, lib/, test/)
# with the arm-none-eabi-gcc on PATH (Debian's gcc-arm-none-eabi, newlib-nano) for the board's
# CPU. PlatformIO's own builder does the rest (library finder, test builds, size check).
from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-gcc",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGSUFFIX=".elf",
    # Berkeley size: text, data, bss. Flash = text + data; RAM = data + bss.
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)

machine = [
    "-mthumb",
    "-mcpu=%s" % board.get("build.cpu"),
    "-mfpu=%s" % board.get("build.fpu"),
    "-mfloat-abi=%s" % board.get("build.float_abi"),
]
env.Append(
    ASFLAGS=machine,
    CCFLAGS=machine + ["-ffunction-sections", "-fdata-sections"],
    CFLAGS=["-std=c99"],
    LINKFLAGS=machine + ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"],
    LIBS=["m"],
    CPPDEFINES=[("F_CPU", "$BOARD_F_CPU")],
)

if not env.get("LDSCRIPT_PATH"):
    env.Replace(LDSCRIPT_PATH=board.get("build.ldscript", ""))

target_elf = env.BuildProgram()
target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)
Default([target_elf, target_size])
