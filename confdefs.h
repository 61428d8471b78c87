/* confdefs.h */
#define PACKAGE_NAME "denoised"
#define PACKAGE_TARNAME "denoised"
#define PACKAGE_VERSION "0.1.0"
#define PACKAGE_STRING "denoised 0.1.0"
#define PACKAGE_BUGREPORT ""
#define PACKAGE_URL ""
#define PACKAGE "denoised"
#define VERSION "0.1.0"
