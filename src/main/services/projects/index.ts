export { readProject, updateProject } from './store'
export { acquireLock, releaseLock } from './lock'
export { projectKey, projectPath } from './identity'
export { closeProject, createNamedProject, createProject, forgetProject, openProject, projectInfo, recentProjects, renameProject, saveProjectState } from './lifecycle'
