#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include "tap.h"
#include "util.h"

int main(void)
{
    char dir[] = "/tmp/vk-test-file-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/c.xml", dir);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    tap_is_int(vk_mkdir_p(sub, 0755), 0, "mkdir -p");
    tap_is_int(vk_write_file_atomic(path, "hello", 5, 0600, NULL), 0, "atomic write");
    char *data = NULL;
    size_t len = 0;
    tap_is_int(vk_read_file(path, &data, &len, NULL), 0, "read back");
    tap_is_str(data, "hello", "content");
    free(data);
    tap_is_int(vk_write_file_atomic(path, "world!", 6, 0600, NULL), 0, "replace");
    tap_is_int(vk_read_file(path, &data, &len, NULL), 0, "read again");
    tap_is_int(len, 6, "new length");
    free(data);
    struct stat st;
    stat(path, &st);
    tap_is_int(st.st_mode & 0777, 0600, "mode applied");
    struct vk_err err = {0};
    tap_ok(vk_read_file("/nonexistent/x", &data, &len, &err) == -ENOENT, "missing file -ENOENT");
    tap_ok(strstr(err.msg, "/nonexistent/x") != NULL, "error names the path");
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    tap_ok(system(cmd) == 0, "cleanup");
    return tap_done();
}
